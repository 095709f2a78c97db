"""API keys over real HTTP on both backend pairs: each key can do exactly its scopes, a revoked
or expired key gets 401, the key is shown once and stored hashed, audit events name it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from accounts.api_keys import SCOPES, hash_key
from accounts.credential_models import ApiKey
from accounts.models import Location, User
from db import create_engine, create_session_factory, utcnow
from db.audit import AuditEvent
from tests.conftest import Backend, World, base_url, login

# One request per scope, which that scope (and no other) allows.
PROBES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "calls:read": ("GET", "/calls", None),
    "statistics:read": ("GET", "/statistics", None),
    "queues:read": ("GET", "/queues", None),
    "queues:write": ("POST", "/queues", {"name": "From the CRM"}),
    "webhooks:read": ("GET", "/webhooks", None),
    "webhooks:write": ("POST", "/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["call.ended"]}),
    "users:read": ("GET", "/users", None),
    "audit-events:read": ("GET", "/audit-events", None),
    "recordings:read": ("GET", "/recordings", None),
    # No such recording: a 404 shows the key got past the scope check.
    "recordings:write": ("PATCH", f"/recordings/{uuid.uuid4()}", {"legal_hold": True}),
    "transcripts:read": ("GET", "/transcripts", None),
    "retention-rules:read": ("GET", "/retention-rules", None),
    "retention-rules:write": ("POST", "/retention-rules", {"kind": "recordings", "days": 30}),
    "widget-keys:read": ("GET", "/widget-keys", None),
}


async def call(
    server: TestServer, method: str, path: str, token: str, data: dict[str, Any] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            base_url(server) + "/api/v1" + path,
            json=data,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


async def admin_token(server: TestServer, world: World) -> tuple[str, Any]:
    email, user_id = await world.add_user("admin")
    return (await login(base_url(server), email))["access_token"], user_id


async def new_key(server: TestServer, token: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    status, created = await call(
        server, "POST", "/api-keys", token, {"name": "CRM", "scopes": scopes, **extra}
    )
    assert status == 201, created
    return created


async def db_update(backend: Backend, statement: Any) -> None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await db.execute(statement)
            await db.commit()
    finally:
        await engine.dispose()


async def test_each_key_can_do_exactly_its_scopes(server: TestServer, world: World) -> None:
    assert set(PROBES) == SCOPES, "every scope a key may hold is probed"
    token, _ = await admin_token(server, world)
    for scope in PROBES:
        key = (await new_key(server, token, [scope]))["key"]
        for probed, (method, path, data) in PROBES.items():
            status, body = await call(server, method, path, key, data)
            if probed == scope:
                assert status in (200, 201, 404), (scope, body)
            else:
                assert (status, body["error"]["code"]) == (403, "insufficient_scope"), (scope, probed, body)
        # Never reachable with a key: credentials, one's own account, the organisation.
        for method, path in (("GET", "/api-keys"), ("GET", "/auth/me"), ("GET", "/organisation/two-factor")):
            status, body = await call(server, method, path, key)
            assert (status, body["error"]["code"]) == (403, "api_key_not_allowed"), (path, body)


async def test_a_key_is_shown_once_stored_hashed_and_named_in_the_audit_log(
    server: TestServer, world: World, backend: Backend
) -> None:
    token, admin_id = await admin_token(server, world)
    created = await new_key(server, token, ["queues:write", "queues:read"])
    key = created["key"]
    assert key.startswith("lk_") and len(key) > 40 and created["hint"] == key[:10]
    status, listed = await call(server, "GET", "/api-keys", token)
    assert status == 200 and [row["id"] for row in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    assert listed[0]["scopes"] == ["queues:read", "queues:write"] and listed[0]["last_used_at"] is None

    status, queue = await call(server, "POST", "/queues", key, {"name": "Made by the CRM"})
    assert status == 201, queue
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            row = await db.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(created["id"])))
            events = list(await db.scalars(select(AuditEvent).where(AuditEvent.org_id == world.org_id)))
    finally:
        await engine.dispose()
    assert row is not None and row.key_hash == hash_key(key) and key not in row.key_hash
    assert row.last_used_at is not None and row.last_used_ip == "127.0.0.1"
    made = [
        event for event in events if event.action == "queue.create" and event.target.endswith(queue["id"])
    ]
    assert [event.actor for event in made] == [f"api_key:{created['id']}"]
    created_events = [event for event in events if event.action == "api_key.created"]
    assert [event.actor for event in created_events] == [f"user:{admin_id}"]


async def test_a_revoked_key_gets_401(server: TestServer, world: World) -> None:
    token, _ = await admin_token(server, world)
    created = await new_key(server, token, ["calls:read"])
    assert (await call(server, "GET", "/calls", created["key"]))[0] == 200
    status, _ = await call(server, "DELETE", f"/api-keys/{created['id']}", token)
    assert status == 204
    status, body = await call(server, "GET", "/calls", created["key"])
    assert (status, body["error"]["code"]) == (401, "api_key_revoked")
    status, listed = await call(server, "GET", "/api-keys", token)
    assert listed[0]["active"] is False and listed[0]["revoked_at"] is not None


async def test_an_expired_key_gets_401(server: TestServer, world: World, backend: Backend) -> None:
    token, _ = await admin_token(server, world)
    expires = (utcnow() + timedelta(days=30)).isoformat()
    created = await new_key(server, token, ["calls:read"], expires_at=expires)
    assert (await call(server, "GET", "/calls", created["key"]))[0] == 200
    await db_update(
        backend,
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(created["id"]))
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    status, body = await call(server, "GET", "/calls", created["key"])
    assert (status, body["error"]["code"]) == (401, "api_key_expired")


async def test_unknown_keys_and_keys_of_a_deactivated_admin_get_401(
    server: TestServer, world: World, backend: Backend
) -> None:
    token, admin_id = await admin_token(server, world)
    created = await new_key(server, token, ["calls:read"])
    status, body = await call(server, "GET", "/calls", "lk_" + "x" * 43)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    await db_update(backend, update(User).where(User.id == admin_id).values(active=False))
    status, body = await call(server, "GET", "/calls", created["key"])
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"name": "x", "scopes": ["api-keys:write"]}, "unknown_scope"),
        ({"name": "x", "scopes": ["calls:read"], "expires_at": "2000-01-01T00:00:00Z"}, "invalid_expiry"),
        ({"name": "x", "scopes": []}, "invalid_input"),
    ],
)
async def test_bad_key_requests_are_422(
    server: TestServer, world: World, data: dict[str, Any], code: str
) -> None:
    token, _ = await admin_token(server, world)
    status, body = await call(server, "POST", "/api-keys", token, data)
    assert (status, body["error"]["code"]) == (422, code), body


async def test_only_admins_manage_keys(server: TestServer, world: World) -> None:
    email, _ = await world.add_user("supervisor")
    token = (await login(base_url(server), email))["access_token"]
    status, body = await call(server, "POST", "/api-keys", token, {"name": "x", "scopes": ["calls:read"]})
    assert status == 403, body


async def test_a_key_works_only_from_its_creators_location(
    server: TestServer, world: World, backend: Backend
) -> None:
    token, admin_id = await admin_token(server, world)
    created = await new_key(server, token, ["calls:read"])
    location = Location(org_id=world.org_id, name="Garage Noord", ip_allowlist=["10.0.0.0/8"])
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            db.add(location)
            await db.flush()
            await db.execute(update(User).where(User.id == admin_id).values(location_id=location.id))
            await db.commit()
    finally:
        await engine.dispose()
    # The test client calls from 127.0.0.1, outside the admin's location.
    status, body = await call(server, "GET", "/calls", created["key"])
    assert (status, body["error"]["code"]) == (403, "ip_not_allowed"), body
    await db_update(
        backend, update(Location).where(Location.id == location.id).values(ip_allowlist=["127.0.0.1/32"])
    )
    status, body = await call(server, "GET", "/calls", created["key"])
    assert status == 200, body
