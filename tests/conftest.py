"""Shared fixtures: the two backend pairs, a running server, data builders, socket.io clients.

Backends: ``embedded`` is SQLite + in-memory realtime state; ``services`` is PostgreSQL +
Redis on 127.0.0.1. When a service is missing its tests are skipped with the reason, or
fail when ``LOKET_REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer

from accounts import directory
from db import SessionFactory, create_engine, create_session_factory, migrate
from loket.app import create_app
from loket.settings import Settings
from privacy import accept_for_fixture

POSTGRES_ADMIN_DSN = os.environ.get("LOKET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LOKET_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("LOKET_REQUIRE_SERVICES") == "1"
PASSWORD = "correct horse battery staple"


def service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_database() -> str | None:
    """Create a fresh database; None when PostgreSQL is not reachable."""
    name = f"loket_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        _ = exc
        return None
    return name


def _redis_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database for the whole test session, dropped afterwards."""
    name = _postgres_database()
    if name is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    migrate.upgrade_sync(url)
    yield url
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'loket.db'}"
    migrate.upgrade_sync(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test session's migrated SQLite and PostgreSQL databases, in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on ``database_url``; a test module or folder with its own ``sessions`` overrides it."""
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        service_missing("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    from redis.asyncio import Redis

    prefix = f"loket-test:{secrets.token_hex(4)}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class Backend:
    """Which database and realtime state a test runs against."""

    name: str
    database_url: str
    data_dir: Path
    redis_url: str | None = None
    redis_prefix: str = "loket:"

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "spool_dir": self.data_dir / "spool",
            "storage_url": f"file://{self.data_dir / 'recordings'}",
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "secret_key": "test-secret-key-that-is-long-enough-0123456789",
            # With Redis, the app's media registers as a media node (docs/architecture.md).
            "media_secret": "test-media-secret-that-is-long-enough-0123456789",
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(params=["embedded", "services"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "embedded":
        return Backend("embedded", request.getfixturevalue("sqlite_url"), tmp_path)
    return Backend(
        "services",
        request.getfixturevalue("postgres_url"),
        tmp_path,
        request.getfixturevalue("redis_url"),
        request.getfixturevalue("redis_prefix"),
    )


# A user made by the test fixtures (``World.add_user``) gets the test password's argon2id hash made once
# per session: hashing is deliberately slow (64 MiB, t=3: a few tenths of a second of CPU), and it
# would be paid again for nearly every test while checking nothing. Logging in still verifies the
# hash in full, and users made through the API or the CLI are hashed as in production.
_fixture_user = contextvars.ContextVar("_fixture_user", default=False)


@pytest.fixture(scope="session", autouse=True)
def _fixture_users_share_a_password_hash() -> Iterator[None]:
    real = directory.hash_password
    made: dict[str, str] = {}

    async def hash_password(password: str) -> str:
        if not _fixture_user.get():
            return await real(password)
        if password not in made:
            made[password] = await real(password)
        return made[password]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(directory, "hash_password", hash_password)
        yield


@dataclass
class World:
    """One organisation with a queue, a widget key, and a way to add staff."""

    org_id: uuid.UUID
    queue_id: uuid.UUID
    widget_key: str
    origin: str
    backend: Backend
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    async def add_user(self, role: str = "adviser", **extra: Any) -> tuple[str, uuid.UUID]:
        email = f"{role}-{secrets.token_hex(4)}@example.test"
        engine = create_engine(self.backend.database_url)
        fixture_user = _fixture_user.set(True)
        try:
            async with create_session_factory(engine)() as db:
                user = await directory.create_user(
                    db, org_id=self.org_id, email=email, role=role, password=PASSWORD, actor="test", **extra
                )
                await db.commit()
        finally:
            _fixture_user.reset(fixture_user)
            await engine.dispose()
        self.users[email] = user.id
        return email, user.id


async def make_world(backend: Backend, *, languages: list[str] | None = None, **queue: Any) -> World:
    engine = create_engine(backend.database_url)
    origin = f"https://shop-{secrets.token_hex(3)}.example"
    try:
        async with create_session_factory(engine)() as db:
            org = await directory.create_org(db, name="Garage Test", actor="test")
            q = await directory.create_queue(
                db, org_id=org.id, actor="test", name="Sales", languages=languages or ["nl", "en"], **queue
            )
            key = await directory.create_widget_key(db, org_id=org.id, origins=[origin], actor="test")
            # Its calls record: the organisation has accepted the DPA (privacy.dpa).
            await accept_for_fixture(db, org.id, actor="test")
            await db.commit()
            return World(org.id, q.id, key.key, origin, backend)
    finally:
        await engine.dispose()


@pytest.fixture
async def world(backend: Backend) -> World:
    return await make_world(backend)


@pytest.fixture
async def server(backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    """A real HTTP server on a free port running the whole app (no in-process worker).

    Short ring and resume windows, so tests of their timeouts are quick; a test that must not see
    them lapse under load names longer ones with ``@pytest.mark.server_settings(...)``."""
    marker = request.node.get_closest_marker("server_settings")
    overrides = marker.kwargs if marker is not None else {}
    settings = backend.settings(**{"ring_timeout_seconds": 2.0, "resume_window_seconds": 2.0, **overrides})
    app = create_app(settings, run_worker=False)
    test_server = TestServer(app, host="127.0.0.1")
    # No request of a finished test is still wanted: wait 5 s for stragglers, not aiohttp's 60.
    await test_server.start_server(shutdown_timeout=5.0)
    yield test_server
    await test_server.close()


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


class Client:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.last_seq = 0  # the highest ``seq`` received, for ``session:resume``
        self._arrived = asyncio.Event()
        self.sio.on("*", self._record, namespace=namespace)

    async def _record(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            self.last_seq = max(self.last_seq, data["seq"])
        self._arrived.set()

    async def connect(self, url: str, token: str) -> None:
        await self.sio.connect(
            url, namespaces=[self.namespace], auth={"token": token}, transports=["websocket"], wait_timeout=5
        )

    async def call(self, event: str, data: Any = None, timeout: float = 5) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)
        return ack

    async def wait_for(self, event: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The first received ``event`` (whose data contains ``match``) not yet consumed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index, (name, data) in enumerate(self.events):
                if name == event and all(data.get(k) == v for k, v in match.items()):
                    del self.events[: index + 1]
                    return data
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [name for name, _ in self.events]
                raise AssertionError(f"no {event} {match or ''} within {timeout}s; unconsumed: {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def received(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients created by a test; all disconnected at the end."""
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


def artifacts_dir() -> Path:
    path = Path(os.environ.get("LOKET_ARTIFACTS", "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


async def login(url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}) as response,
    ):
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def visitor_session(url: str, world: World) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/v1/widget/sessions",
            json={"widget_key": world.widget_key},
            headers={"Origin": world.origin},
        ) as response,
    ):
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def connect_visitor(url: str, world: World, clients: list[Client]) -> Client:
    session = await visitor_session(url, world)
    client = Client("/visitor")
    clients.append(client)
    await client.connect(url, session["visitor_token"])
    return client


async def connect_adviser(url: str, email: str, clients: list[Client], *, available: bool = True) -> Client:
    tokens = await login(url, email)
    client = Client("/adviser")
    clients.append(client)
    await client.connect(url, tokens["access_token"])
    resumed = await client.call("session:resume", {"last_seq": 0})
    assert resumed["ok"] and "snapshot" in resumed, resumed
    if available:
        ack = await client.call("presence:set", {"status": "available"})
        assert ack["ok"], ack
    return client


async def paired(server: object, world: World, clients: list[Client]) -> tuple[Client, Client, dict]:
    """A visitor and an adviser in an accepted call: (visitor, adviser, the join ack)."""
    url = base_url(server)  # type: ignore[arg-type]
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    return visitor, adviser, joined
