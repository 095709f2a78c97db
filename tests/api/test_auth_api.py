"""Staff auth over real HTTP on both backend pairs: login, refresh rotation, logout, limits, 2FA."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.config import RateLimit
from accounts.models import Location, RefreshToken, User
from accounts.tokens import hash_refresh_token
from api.keys import AUTH, TOKENS
from db import create_engine, create_session_factory, utcnow
from db.audit import AuditEvent, ip_pseudonym
from db.audit import verify as verify_chain
from loket.app import create_app
from tests.conftest import PASSWORD, Backend, World, base_url

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


@asynccontextmanager
async def database(backend: Backend) -> AsyncIterator[AsyncSession]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            yield db
    finally:
        await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def proxied(backend: Backend) -> AsyncIterator[TestServer]:
    """The app behind a reverse proxy on 127.0.0.1, so tests can choose the client address."""
    app = create_app(backend.settings(trusted_proxies=["127.0.0.1/32"]), run_worker=False)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def post(
    http: aiohttp.ClientSession, server: TestServer, path: str, body: dict[str, Any], ip: str | None = None
) -> tuple[int, Any, Any]:
    headers = {"X-Forwarded-For": ip} if ip else {}
    async with http.post(base_url(server) + path, json=body, headers=headers) as response:
        payload = await response.json() if response.content_type == "application/json" else None
        return response.status, payload, response.headers


def assert_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]


async def audit_events(backend: Backend, *, target: str) -> list[AuditEvent]:
    async with database(backend) as db:
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.seq)
        )
        return list(rows)


async def set_user(backend: Backend, user_id: uuid.UUID, **values: Any) -> None:
    async with database(backend) as db:
        await db.execute(update(User).where(User.id == user_id).values(**values))
        await db.commit()


async def fresh_rate_window(seconds: int = 60, needed: float = 8.0) -> None:
    """Wait for a new fixed window if the current one ends before a burst could finish."""
    left = seconds - time.time() % seconds
    if left < needed:
        await asyncio.sleep(left + 0.05)


async def test_login_returns_an_access_token_for_the_user_and_a_refresh_token(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user("supervisor")
    status, body, _ = await post(http, server, LOGIN, {"email": email.upper(), "password": PASSWORD})
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    claims = server.app[TOKENS].verify_staff(body["access_token"])
    assert (claims.user_id, claims.org_id, claims.role) == (user_id, world.org_id, "supervisor")
    assert len(body["refresh_token"]) >= 32
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with http.get(base_url(server) + ME, headers=headers) as response:
        assert response.status == 200
        me = await response.json()
    assert me["id"] == str(user_id) and me["email"] == email and me["role"] == "supervisor"


async def test_refresh_tokens_are_stored_only_as_their_hash(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    _, body, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    async with database(backend) as db:
        stored = (await db.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id))).all()
    assert [row.token_hash for row in stored] == [hash_refresh_token(body["refresh_token"])]
    assert body["refresh_token"] not in stored[0].token_hash


@pytest.mark.parametrize("who", ["wrong password", "unknown address"])
async def test_wrong_credentials_answer_401_with_the_error_shape(
    server: TestServer, world: World, http: aiohttp.ClientSession, who: str
) -> None:
    email, _ = await world.add_user()
    if who == "unknown address":
        email = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    status, body, _ = await post(http, server, LOGIN, {"email": email, "password": "not the password"})
    assert_error(status, body, 401, "invalid_credentials")
    assert body["error"]["message"] == "wrong e-mail address or password"


async def test_an_inactive_account_cannot_log_in(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    await set_user(backend, user_id, active=False)
    status, body, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    assert_error(status, body, 401, "invalid_credentials")
    [event] = await audit_events(backend, target=f"email:{email}")
    assert event.details == {"reason": "inactive"}


async def test_login_with_a_very_long_unknown_address_is_a_plain_401(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    email = "x" * 300 + "@example.test"
    status, body, _ = await post(http, server, LOGIN, {"email": email, "password": "not the password"})
    assert_error(status, body, 401, "invalid_credentials")


async def test_failed_and_successful_logins_are_audited_in_the_chain(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.test"
    await post(http, server, LOGIN, {"email": email, "password": "not the password"})
    await post(http, server, LOGIN, {"email": ghost, "password": "not the password"})
    status, _, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    assert status == 200

    [failed] = await audit_events(backend, target=f"email:{email}")
    assert failed.action == "auth.login_failed"
    # The address only as its keyed hash, as in details (issue 12 item 8).
    assert failed.actor == "ip:" + ip_pseudonym(backend.settings().installation_keys(), "127.0.0.1")
    assert failed.org_id == world.org_id
    assert failed.details == {"reason": "bad_credentials"}
    [unknown] = await audit_events(backend, target=f"email:{ghost}")
    assert unknown.action == "auth.login_failed" and unknown.org_id is None
    logins = [e for e in await audit_events(backend, target=f"user:{user_id}") if e.action == "auth.login"]
    assert len(logins) == 1
    # The address only as its keyed hash (db.audit: IP addresses are never stored in the trail).
    ip = ip_pseudonym(backend.settings().installation_keys(), "127.0.0.1")
    assert logins[0].actor == f"user:{user_id}" and logins[0].details == {"ip": ip}
    assert failed.seq < unknown.seq < logins[0].seq
    assert "not the password" not in repr([failed.details, unknown.details, logins[0].details])
    async with database(backend) as db:
        assert (await verify_chain(db)).ok


async def test_refresh_rotates_and_the_old_token_then_fails(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    _, first, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    status, second, _ = await post(http, server, REFRESH, {"refresh_token": first["refresh_token"]})
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert server.app[TOKENS].verify_staff(second["access_token"]).user_id == user_id
    status, third, _ = await post(http, server, REFRESH, {"refresh_token": second["refresh_token"]})
    assert status == 200, third

    status, body, _ = await post(http, server, REFRESH, {"refresh_token": first["refresh_token"]})
    assert_error(status, body, 401, "refresh_token_reused")


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    _, first, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    _, other_login, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    _, second, _ = await post(http, server, REFRESH, {"refresh_token": first["refresh_token"]})
    _, newest, _ = await post(http, server, REFRESH, {"refresh_token": second["refresh_token"]})

    status, body, _ = await post(http, server, REFRESH, {"refresh_token": second["refresh_token"]})
    assert_error(status, body, 401, "refresh_token_reused")
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": newest["refresh_token"]})
    assert_error(status, body, 401, "invalid_refresh_token")
    # Another login (another device) is another family and keeps working.
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": other_login["refresh_token"]})
    assert status == 200, body
    async with database(backend) as db:
        family = await db.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_refresh_token(newest["refresh_token"])
            )
        )
    [event] = await audit_events(backend, target=f"token_family:{family}")
    assert event.action == "auth.refresh_reuse" and event.actor == f"user:{user_id}"


async def test_two_concurrent_uses_of_one_refresh_token_never_both_succeed(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    email, _ = await world.add_user()
    _, tokens, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    results = await asyncio.gather(
        *(post(http, server, REFRESH, {"refresh_token": tokens["refresh_token"]}) for _ in range(4))
    )
    assert sorted(status for status, _, _ in results) == [200, 401, 401, 401], results
    codes = {body["error"]["code"] for status, body, _ in results if status == 401}
    assert codes <= {"refresh_token_reused", "invalid_refresh_token"}


async def test_an_expired_refresh_token_is_refused(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    _, tokens, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    async with database(backend) as db:
        await db.execute(
            update(RefreshToken).where(RefreshToken.user_id == user_id).values(expires_at=utcnow())
        )
        await db.commit()
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert_error(status, body, 401, "invalid_refresh_token")


async def test_a_deactivated_accounts_refresh_token_stops_working_without_a_reuse_alarm(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    _, tokens, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    await set_user(backend, user_id, active=False)
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert_error(status, body, 401, "account_disabled")
    await set_user(backend, user_id, active=True)
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert_error(status, body, 401, "invalid_refresh_token")
    async with database(backend) as db:
        family = await db.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_refresh_token(tokens["refresh_token"])
            )
        )
    assert await audit_events(backend, target=f"token_family:{family}") == []


async def test_logout_revokes_the_refresh_token_and_its_family(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    email, _ = await world.add_user()
    _, first, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD})
    _, second, _ = await post(http, server, REFRESH, {"refresh_token": first["refresh_token"]})
    status, body, _ = await post(http, server, LOGOUT, {"refresh_token": second["refresh_token"]})
    assert (status, body) == (204, None)
    status, body, _ = await post(http, server, REFRESH, {"refresh_token": second["refresh_token"]})
    assert_error(status, body, 401, "invalid_refresh_token")


async def test_logout_with_an_unknown_token_reveals_nothing(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post(http, server, LOGOUT, {"refresh_token": "x" * 43})
    assert (status, body) == (204, None)


async def test_me_needs_a_staff_access_token(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    visitor_token, _ = server.app[TOKENS].issue_visitor(world.org_id)
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {visitor_token}"}):
        async with http.get(base_url(server) + ME, headers=headers) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] in {"unauthenticated", "invalid_token"}


async def test_logins_from_one_ip_are_rate_limited_with_retry_after(
    proxied: TestServer, http: aiohttp.ClientSession
) -> None:
    # 21 password checks must fit in one window, also on a loaded machine.
    await fresh_rate_window(needed=30)
    statuses = []
    for attempt in range(21):
        body = {"email": f"guess-{attempt}@example.test", "password": "not the password"}
        status, payload, headers = await post(http, proxied, LOGIN, body, ip="203.0.113.7")
        statuses.append(status)
    assert statuses == [401] * 20 + [429]
    assert_error(status, payload, 429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 60
    # Another address is counted on its own.
    status, payload, _ = await post(
        http, proxied, LOGIN, {"email": "guess@example.test", "password": "x"}, ip="203.0.113.8"
    )
    assert_error(status, payload, 401, "invalid_credentials")


async def test_failures_from_one_address_lock_the_account_there_but_not_its_owner_elsewhere(
    proxied: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    await fresh_rate_window(900)
    email, _ = await world.add_user()
    bystander, _ = await world.add_user()
    for attempt in range(5):
        address = email.upper() if attempt % 2 else email
        status, body, _ = await post(
            http, proxied, LOGIN, {"email": address, "password": "not the password"}, ip="198.51.100.7"
        )
        assert_error(status, body, 401, "invalid_credentials")

    status, body, headers = await post(
        http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="198.51.100.7"
    )
    assert_error(status, body, 429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1
    # The owner, at their own desk, is not locked out by someone guessing elsewhere.
    status, body, _ = await post(
        http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="192.0.2.10"
    )
    assert status == 200, body
    status, body, _ = await post(
        http, proxied, LOGIN, {"email": bystander, "password": PASSWORD}, ip="198.51.100.7"
    )
    assert status == 200, body
    failures = await audit_events(backend, target=f"email:{email}")
    hashed = "ip:" + ip_pseudonym(backend.settings().installation_keys(), "198.51.100.7")
    assert [event.actor for event in failures] == [hashed] * 5


async def test_guessing_spread_over_many_addresses_locks_the_account_except_inside_its_location(
    proxied: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    await fresh_rate_window(900, needed=30)
    # A lower limit than the default 20, so the test is quick on a loaded machine.
    auth = proxied.app[AUTH]
    auth._config = dataclasses.replace(auth._config, login_failures_anywhere=RateLimit(6, 900))
    email, user_id = await world.add_user()
    await add_location(backend, world, user_id, ["10.20.0.0/16"])
    for attempt in range(6):
        status, body, _ = await post(
            http, proxied, LOGIN, {"email": email, "password": "not the password"}, ip=f"198.51.100.{attempt}"
        )
        assert_error(status, body, 401, "invalid_credentials")

    status, body, _ = await post(
        http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="203.0.113.9"
    )
    assert_error(status, body, 429, "rate_limited")
    status, body, _ = await post(http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="10.20.1.2")
    assert status == 200, body


async def test_an_ipv6_guesser_is_one_address_per_64(
    proxied: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    await fresh_rate_window(900)
    email, _ = await world.add_user()
    for attempt in range(5):
        status, body, _ = await post(
            http, proxied, LOGIN, {"email": email, "password": "wrong"}, ip=f"2001:db8:1:2::{attempt + 1:x}"
        )
        assert_error(status, body, 401, "invalid_credentials")
    status, body, _ = await post(
        http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="2001:db8:1:2:ffff::1"
    )
    assert_error(status, body, 429, "rate_limited")
    status, body, _ = await post(
        http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="2001:db8:1:3::1"
    )
    assert status == 200, body


async def add_location(backend: Backend, world: World, user_id: uuid.UUID, allowlist: list[str]) -> None:
    async with database(backend) as db:
        location = Location(org_id=world.org_id, name="Showroom", ip_allowlist=allowlist)
        db.add(location)
        await db.flush()
        await db.execute(update(User).where(User.id == user_id).values(location_id=location.id))
        await db.commit()


async def test_a_location_allowlist_denies_logins_from_outside_with_403(
    proxied: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    await add_location(backend, world, user_id, ["10.20.0.0/16", "2001:db8::/32"])
    status, body, _ = await post(http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="192.0.2.1")
    assert_error(status, body, 403, "ip_not_allowed")
    denied = [e for e in await audit_events(backend, target=f"user:{user_id}") if e.action != "user.create"]
    assert [(e.action, e.details) for e in denied] == [
        (
            "auth.login_denied",
            {
                "reason": "ip_not_allowed",
                "ip": ip_pseudonym(backend.settings().installation_keys(), "192.0.2.1"),
            },
        )
    ]


@pytest.mark.parametrize("inside", ["10.20.3.4", "2001:db8::7"])
async def test_a_location_allowlist_lets_logins_from_inside_through(
    proxied: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession, inside: str
) -> None:
    email, user_id = await world.add_user()
    await add_location(backend, world, user_id, ["10.20.0.0/16", "2001:db8::/32"])
    status, body, _ = await post(http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip=inside)
    assert status == 200, body


async def test_an_empty_allowlist_allows_every_address(
    proxied: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    await add_location(backend, world, user_id, [])
    status, body, _ = await post(http, proxied, LOGIN, {"email": email, "password": PASSWORD}, ip="192.0.2.1")
    assert status == 200, body


async def test_a_user_with_a_totp_secret_needs_the_current_code(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user("admin")
    secret = pyotp.random_base32()
    await set_user(backend, user_id, totp_secret=secret)
    credentials = {"email": email, "password": PASSWORD}

    status, body, _ = await post(http, server, LOGIN, credentials)
    assert_error(status, body, 401, "totp_required")
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    status, body, _ = await post(http, server, LOGIN, {**credentials, "totp": wrong})
    assert_error(status, body, 401, "invalid_totp")
    status, body, _ = await post(http, server, LOGIN, {**credentials, "totp": pyotp.TOTP(secret).now()})
    assert status == 200, body
    actions = [e.action for e in await audit_events(backend, target=f"user:{user_id}")]
    assert actions[-2:] == ["auth.login_failed", "auth.login"]


async def test_a_used_totp_code_cannot_be_replayed(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user("dpo")
    secret = pyotp.random_base32()
    await set_user(backend, user_id, totp_secret=secret)
    totp = pyotp.TOTP(secret)
    if totp.interval - time.time() % totp.interval < 2:
        await asyncio.sleep(2)
    code = totp.now()
    status, body, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD, "totp": code})
    assert status == 200, body
    status, body, _ = await post(http, server, LOGIN, {"email": email, "password": PASSWORD, "totp": code})
    assert_error(status, body, 401, "invalid_totp")


async def test_a_user_without_a_totp_secret_ignores_a_code(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    email, _ = await world.add_user()
    status, body, _ = await post(
        http, server, LOGIN, {"email": email, "password": PASSWORD, "totp": "123456"}
    )
    assert status == 200, body
