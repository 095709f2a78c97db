"""Locations and IP allowlists: made by the CLI and the admin API, enforced at login, refresh,
every staff REST request and every socket connect, behind a proxy whose headers a client
may try to forge."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from sqlalchemy import select

from accounts.models import Location, RefreshToken
from db import create_engine, create_session_factory
from db.audit import AuditEvent, ip_pseudonym
from loket.app import create_app
from tests.conftest import PASSWORD, Backend, Client, World, base_url
from tests.signaling.test_staff_sessions import closed_within, refused_code

OFFICE = "10.20.0.0/16"
INSIDE = "10.20.3.4"
OUTSIDE = "192.0.2.44"


@pytest.fixture
async def proxied(backend: Backend) -> AsyncIterator[TestServer]:
    """The app behind a reverse proxy on 127.0.0.1 that appends X-Forwarded-For."""
    app = create_app(backend.settings(trusted_proxies=["127.0.0.1/32"]), run_worker=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(shutdown_timeout=5.0)
    yield server
    await server.close()


@pytest.fixture
async def rfc7239(backend: Backend) -> AsyncIterator[TestServer]:
    """The app behind a proxy that writes RFC 7239 ``Forwarded``."""
    settings = backend.settings(
        trusted_proxies=["127.0.0.1/32"], forwarded_header="forwarded", media_node_id="rfc7239-node"
    )
    server = TestServer(create_app(settings, run_worker=False), host="127.0.0.1")
    await server.start_server(shutdown_timeout=5.0)
    yield server
    await server.close()


async def request(
    server: TestServer,
    method: str,
    path: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    token: str | None = None,
    json: Any = None,
) -> tuple[int, Any]:
    sent: CIMultiDict[str] = CIMultiDict(headers or [])
    if token:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base_url(server) + "/api/v1" + path, headers=sent, json=json) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


def via(address: str) -> list[tuple[str, str]]:
    """What the proxy sends when the client connects from ``address``."""
    return [("X-Forwarded-For", address)]


async def login_from(server: TestServer, email: str, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    return await request(
        server, "POST", "/auth/login", headers=headers, json={"email": email, "password": PASSWORD}
    )


async def at_location(backend: Backend, world: World, role: str = "adviser") -> tuple[str, uuid.UUID]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            location = Location(org_id=world.org_id, name="Showroom", ip_allowlist=[OFFICE])
            db.add(location)
            await db.commit()
            location_id = location.id
    finally:
        await engine.dispose()
    return await world.add_user(role, location_id=location_id)


async def test_a_forged_second_x_forwarded_for_line_does_not_pass_the_allowlist(
    proxied: TestServer, world: World, backend: Backend
) -> None:
    email, _ = await at_location(backend, world)
    # The client sends "X-Forwarded-For: <an office address>"; the proxy adds its own line.
    status, body = await login_from(
        proxied, email, [("X-Forwarded-For", INSIDE), ("X-Forwarded-For", OUTSIDE)]
    )
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    status, body = await login_from(proxied, email, via(f"{INSIDE}, {OUTSIDE}"))
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    status, body = await login_from(proxied, email, via(INSIDE))
    assert status == 200, body


async def test_a_forged_forwarded_header_does_not_pass_the_allowlist(
    proxied: TestServer, rfc7239: TestServer, world: World, backend: Backend
) -> None:
    email, _ = await at_location(backend, world)
    # Our proxy writes X-Forwarded-For: a Forwarded header can only be the client's own.
    status, body = await login_from(proxied, email, [("Forwarded", f"for={INSIDE}"), *via(OUTSIDE)])
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    # Our proxy writes Forwarded: the client's element is left of the proxy's.
    status, body = await login_from(
        rfc7239, email, [("Forwarded", f"for={INSIDE}"), ("Forwarded", f'for="{OUTSIDE}:5555";proto=https')]
    )
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    status, body = await login_from(
        rfc7239, email, [("X-Forwarded-For", INSIDE), ("Forwarded", f"for={OUTSIDE}")]
    )
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    status, body = await login_from(rfc7239, email, [("Forwarded", f"for={INSIDE};proto=https")])
    assert status == 200, body


async def test_a_refresh_from_a_foreign_address_is_refused_and_burns_the_login(
    proxied: TestServer, world: World, backend: Backend
) -> None:
    email, user_id = await at_location(backend, world)
    status, tokens = await login_from(proxied, email, via(INSIDE))
    assert status == 200, tokens

    stolen = {"refresh_token": tokens["refresh_token"]}
    status, body = await request(proxied, "POST", "/auth/refresh", headers=via(OUTSIDE), json=stolen)
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    # Treated as stolen: the login is revoked, its access token too.
    status, body = await request(proxied, "POST", "/auth/refresh", headers=via(INSIDE), json=stolen)
    assert status == 401, body
    status, body = await request(
        proxied, "GET", "/auth/me", headers=via(INSIDE), token=tokens["access_token"]
    )
    assert status == 401 and body["error"]["code"] == "session_revoked", body
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = list(await db.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id)))
            events = list(await db.scalars(select(AuditEvent).where(AuditEvent.target == f"user:{user_id}")))
    finally:
        await engine.dispose()
    assert rows and all(row.revoked_at is not None for row in rows)
    ip = ip_pseudonym(backend.settings().installation_keys(), OUTSIDE)
    assert ("auth.refresh_denied", {"reason": "ip_not_allowed", "ip": ip}) in [
        (event.action, event.details) for event in events
    ]


async def test_every_staff_request_and_socket_connect_checks_the_allowlist(
    proxied: TestServer, world: World, backend: Backend, clients: list[Client]
) -> None:
    email, _ = await at_location(backend, world)
    status, tokens = await login_from(proxied, email, via(INSIDE))
    assert status == 200, tokens
    access = tokens["access_token"]

    assert (await request(proxied, "GET", "/auth/me", headers=via(INSIDE), token=access))[0] == 200
    status, body = await request(proxied, "GET", "/auth/me", headers=via(OUTSIDE), token=access)
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body
    status, body = await request(proxied, "GET", "/queues", headers=via(f"{INSIDE}, {OUTSIDE}"), token=access)
    assert status == 403 and body["error"]["code"] == "ip_not_allowed", body

    url = base_url(proxied)
    assert await refused_code(url, access, {"X-Forwarded-For": OUTSIDE}) == "ip_not_allowed"
    assert await refused_code(url, access, {"X-Forwarded-For": f"{INSIDE}, {OUTSIDE}"}) == "ip_not_allowed"
    assert await refused_code(url, access, {"X-Forwarded-For": INSIDE}) is None


async def test_admins_manage_locations_and_assign_staff_and_every_change_is_audited(
    proxied: TestServer, world: World, backend: Backend, clients: list[Client]
) -> None:
    admin_email, admin_id = await world.add_user("admin")
    _, admin_tokens = await login_from(proxied, admin_email, via(OUTSIDE))
    admin = admin_tokens["access_token"]
    adviser_email, adviser_id = await world.add_user("adviser")
    _, adviser_tokens = await login_from(proxied, adviser_email, via(OUTSIDE))

    status, body = await request(
        proxied,
        "POST",
        "/locations",
        headers=via(OUTSIDE),
        token=admin,
        json={"name": "Showroom", "allow": ["10.20.9.9/16"]},
    )
    assert status == 201, body
    assert body["allow"] == [OFFICE] and body["staff"] == 0
    location_id = body["id"]
    status, body = await request(
        proxied,
        "POST",
        "/locations",
        headers=via(OUTSIDE),
        token=admin,
        json={"name": "Bad", "allow": ["10.1/99"]},
    )
    assert status == 422 and "10.1/99" in body["error"]["message"], body
    status, body = await request(
        proxied, "GET", "/locations", headers=via(OUTSIDE), token=adviser_tokens["access_token"]
    )
    assert status == 403, body

    # Assigning the adviser closes their socket opened from outside; it may not come back.
    adviser = Client("/adviser")
    clients.append(adviser)
    await adviser.sio.connect(
        base_url(proxied),
        namespaces=["/adviser"],
        auth={"token": adviser_tokens["access_token"]},
        transports=["websocket"],
        headers={"X-Forwarded-For": OUTSIDE},
        wait_timeout=5,
    )
    status, body = await request(
        proxied,
        "PATCH",
        f"/users/{adviser_id}",
        headers=via(OUTSIDE),
        token=admin,
        json={"location_id": location_id},
    )
    assert status == 200 and body["location_id"] == location_id, body
    await closed_within(adviser, 2.0)
    status, body = await request(
        proxied, "GET", "/auth/me", headers=via(OUTSIDE), token=adviser_tokens["access_token"]
    )
    assert status == 403 and body["error"]["code"] == "ip_not_allowed"

    status, body = await request(
        proxied, "DELETE", f"/locations/{location_id}", headers=via(OUTSIDE), token=admin
    )
    assert status == 409 and body["error"]["code"] == "location_in_use", body
    status, body = await request(
        proxied,
        "PATCH",
        f"/locations/{location_id}",
        headers=via(OUTSIDE),
        token=admin,
        json={"allow": ["192.0.2.0/24"]},
    )
    assert status == 200 and body["allow"] == ["192.0.2.0/24"] and body["staff"] == 1, body
    status, _ = await request(
        proxied, "GET", "/auth/me", headers=via(OUTSIDE), token=adviser_tokens["access_token"]
    )
    assert status == 200
    status, body = await request(
        proxied,
        "PATCH",
        f"/users/{adviser_id}",
        headers=via(OUTSIDE),
        token=admin,
        json={"location_id": None},
    )
    assert status == 200 and body["location_id"] is None, body
    status, _ = await request(
        proxied, "DELETE", f"/locations/{location_id}", headers=via(OUTSIDE), token=admin
    )
    assert status == 204

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            events = list(
                await db.scalars(
                    select(AuditEvent).where(AuditEvent.actor == f"user:{admin_id}").order_by(AuditEvent.seq)
                )
            )
    finally:
        await engine.dispose()
    assert [event.action for event in events if event.action.startswith(("location.", "user.location"))] == [
        "location.create",
        "user.location_change",
        "location.update",
        "user.location_change",
        "location.delete",
    ]


def test_the_cli_creates_a_location_and_a_user_at_it(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'loket.db'}"
    loket = Path(sys.executable).with_name("loket")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(loket), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"LOKET_DATABASE_URL": database, "PATH": "/usr/bin:/bin"},
            timeout=120,
            check=False,
        )

    org = run("org", "create", "Garage").stdout.splitlines()[-1]
    created = run(
        "location",
        "create",
        "--org",
        org,
        "--name",
        "Showroom",
        "--allow",
        "10.20.0.0/16",
        "--allow",
        "2001:db8::/48",
    )
    assert created.returncode == 0, created.stderr
    location_id = created.stdout.splitlines()[-1]
    assert uuid.UUID(location_id)
    user = run(
        "user",
        "create",
        "--org",
        org,
        "--email",
        "sanne@garage.example",
        "--role",
        "adviser",
        "--password-stdin",
        "--location",
        location_id,
        stdin=PASSWORD + "\n",
    )
    assert user.returncode == 0, user.stderr
    bad = run("location", "create", "--org", org, "--name", "X", "--allow", "not-a-range")
    assert bad.returncode != 0 and "not-a-range" in bad.stderr and "Traceback" not in bad.stderr

    with sqlite3.connect(tmp_path / "loket.db") as db:
        (allowlist,) = db.execute(
            "SELECT ip_allowlist FROM locations WHERE id = ?", (uuid.UUID(location_id).hex,)
        ).fetchone()
        (assigned,) = db.execute(
            "SELECT location_id FROM users WHERE email = 'sanne@garage.example'"
        ).fetchone()
    assert allowlist == '["10.20.0.0/16", "2001:db8::/48"]'
    assert uuid.UUID(assigned) == uuid.UUID(location_id)
