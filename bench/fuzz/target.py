"""The server under fuzz: an embedded ``loket serve`` (SQLite, in-memory state, media in process)
in this event loop, provisioned through the public contract's own bootstrap (``accounts.directory``),
with the clients the fuzzer drives and a control session it must never disturb.

- ``admin``: an access token for the staff REST routes;
- an event pair (``visitor``, ``adviser``) whose sockets take the fuzzed socket.io events;
- a media pair in an accepted call on queue A, whose visitor sends the fuzzed SDP offers;
- the control visitor, waiting in queue B (no adviser serves it): after the fuzz it must still be
  connected, still waiting, with the same call id.
"""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from accounts import directory
from db import create_engine, create_session_factory, migrate
from loket.app import create_app
from loket.settings import Settings

# Throw-away staff of a throw-away database.
PASSWORD = "fuzz-password-long-enough-0123"  # noqa: S105
ORIGIN = "https://fuzz.example"
ACK_SECONDS = 5.0


class Client:
    """A socket.io client that keeps what it received."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        # The highest seq received: what a resume must start from (older events may be trimmed).
        self.last_seq = 0
        self.sio.on("*", self._record, namespace=namespace)
        self.url = ""
        self.token = ""

    async def _record(self, event: str, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            self.last_seq = max(self.last_seq, data["seq"])
        self.events.append((event, data))
        del self.events[:-50]

    async def connect(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        await self.sio.connect(
            url, namespaces=[self.namespace], auth={"token": token}, transports=["websocket"]
        )

    async def reconnect(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._record, namespace=self.namespace)
        await self.connect(self.url, self.token)

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and self.namespace in self.sio.namespaces

    async def call(self, event: str, data: Any = None, timeout: float = ACK_SECONDS) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@dataclass
class Target:
    url: str
    admin: str
    visitor_token: str
    visitor: Client
    adviser: Client
    media_visitor: Client
    control: Client
    control_call: str
    queue_a: str
    queue_b: str
    http: aiohttp.ClientSession
    _runner: web.AppRunner
    _tmp: tempfile.TemporaryDirectory[str]
    _clients: list[Client] = field(default_factory=list)

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        await self.http.close()
        await self._runner.cleanup()
        self._tmp.cleanup()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _provision(database_url: str) -> tuple[uuid.UUID, uuid.UUID, str, list[str]]:
    """An organisation, queues A and B, a widget key, an admin and two advisers serving A only."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db:
            org = await directory.create_org(db, name="Fuzz Garage", actor="fuzz")
            queue_a = await directory.create_queue(
                db, org_id=org.id, actor="fuzz", name="A", languages=["en"]
            )
            queue_b = await directory.create_queue(
                db, org_id=org.id, actor="fuzz", name="B", languages=["en"]
            )
            key = await directory.create_widget_key(db, org_id=org.id, origins=[ORIGIN], actor="fuzz")
            emails = [
                f"{role}-{index}@fuzz.example" for index, role in enumerate(("admin", "adviser", "adviser"))
            ]
            for email, role in zip(emails, ("admin", "adviser", "adviser"), strict=True):
                await directory.create_user(
                    db,
                    org_id=org.id,
                    email=email,
                    role=role,
                    password=PASSWORD,
                    actor="fuzz",
                    queue_ids=[queue_a.id] if role == "adviser" else None,
                )
            await db.commit()
            return queue_a.id, queue_b.id, key.key, emails
    finally:
        await engine.dispose()


async def start_target() -> Target:
    """Start the server and its clients (see the module doc)."""
    tmp = tempfile.TemporaryDirectory(prefix="loket-fuzz-")
    data = Path(tmp.name)
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{data / 'loket.db'}",
        spool_dir=data / "spool",
        storage_url=f"file://{data / 'recordings'}",
        secret_key=secrets.token_urlsafe(48),
        ring_timeout_seconds=60.0,
        transcription_enabled=False,
    )
    await migrate.upgrade(settings.database_url)
    queue_a, queue_b, widget_key, emails = await _provision(settings.database_url)
    # The fuzzer's own requests are not the news: keep the access log quiet.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    runner = web.AppRunner(create_app(settings, run_worker=False), access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    http = aiohttp.ClientSession()

    async def token(email: str) -> str:
        async with http.post(
            f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        ) as answer:
            return str((await answer.json())["access_token"])

    async def visitor_token() -> str:
        async with http.post(
            f"{url}/api/v1/widget/sessions", json={"widget_key": widget_key}, headers={"Origin": ORIGIN}
        ) as answer:
            return str((await answer.json())["visitor_token"])

    clients: list[Client] = []

    async def connect(namespace: str, credential: str) -> Client:
        client = Client(namespace)
        clients.append(client)
        await client.connect(url, credential)
        await client.call("session:resume", {"last_seq": 0})
        return client

    admin = await token(emails[0])
    media_adviser = await connect("/adviser", await token(emails[1]))
    await media_adviser.call("presence:set", {"status": "available"})
    media_visitor = await connect("/visitor", await visitor_token())
    joined = await media_visitor.call("queue:join", {"queue_id": str(queue_a)})
    accepted = await media_adviser.call("call:accept", {"call_id": joined["call_id"]})
    if not accepted.get("ok"):
        raise RuntimeError(f"the media pair's call was not accepted: {accepted}")
    control = await connect("/visitor", await visitor_token())
    control_call = (await control.call("queue:join", {"queue_id": str(queue_b)}))["call_id"]
    fuzz_visitor_token = await visitor_token()
    visitor = await connect("/visitor", fuzz_visitor_token)
    adviser = await connect("/adviser", await token(emails[2]))
    return Target(
        url=url,
        admin=admin,
        visitor_token=fuzz_visitor_token,
        visitor=visitor,
        adviser=adviser,
        media_visitor=media_visitor,
        control=control,
        control_call=control_call,
        queue_a=str(queue_a),
        queue_b=str(queue_b),
        http=http,
        _runner=runner,
        _tmp=tmp,
        _clients=clients,
    )
