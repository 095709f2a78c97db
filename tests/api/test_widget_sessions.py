"""``POST /api/v1/widget/sessions``: Origin against the key, CORS, rate limit, queues, visitor token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from accounts import directory
from accounts.hours import DAYS
from accounts.models import WidgetKey
from api.keys import TOKENS
from db import AccessLogEntry, create_engine, create_session_factory
from db.errors import Unauthenticated
from loket.app import create_app
from tests.conftest import Backend, World, base_url, make_world

SESSIONS = "/api/v1/widget/sessions"
ICE_SERVERS = [{"urls": ["stun:stun.shop.example:3478"]}]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def proxied(backend: Backend) -> AsyncIterator[TestServer]:
    """The app behind a reverse proxy on 127.0.0.1, so tests can choose the client address."""
    settings = backend.settings(trusted_proxies=["127.0.0.1/32"], ice_servers=ICE_SERVERS)
    app = create_app(settings, run_worker=False)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def start_session(
    http: aiohttp.ClientSession,
    server: TestServer,
    widget_key: str,
    origin: str | None,
    ip: str | None = None,
) -> tuple[int, Any, Any]:
    headers = {"Origin": origin} if origin is not None else {}
    if ip:
        headers["X-Forwarded-For"] = ip
    async with http.post(
        base_url(server) + SESSIONS, json={"widget_key": widget_key}, headers=headers
    ) as response:
        return response.status, await response.json(), response.headers


def assert_refused(status: int, body: Any, headers: Any, expected: int, code: str) -> None:
    assert status == expected, body
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Access-Control-Allow-Origin" not in headers
    assert "visitor_token" not in body


async def fresh_rate_window(seconds: int = 60, needed: float = 5.0) -> None:
    left = seconds - time.time() % seconds
    if left < needed:
        await asyncio.sleep(left + 0.05)


async def test_an_allowed_origin_gets_a_session_with_cors_and_no_cookie(
    proxied: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await start_session(http, proxied, world.widget_key, world.origin)
    assert status == 200, body
    assert headers["Access-Control-Allow-Origin"] == world.origin
    assert "Origin" in headers.get("Vary", "")
    assert "Access-Control-Allow-Credentials" not in headers
    assert "Set-Cookie" not in headers
    assert len(http.cookie_jar) == 0
    assert set(body) == {"visitor_token", "expires_in", "ice_servers", "queues", "consent_texts"}
    assert body["consent_texts"] == []  # no queue of this organisation records
    assert body["expires_in"] == 120 * 60
    assert body["ice_servers"] == ICE_SERVERS
    [queue] = body["queues"]
    assert queue["id"] == str(world.queue_id)
    assert queue["name"] == "Sales" and queue["languages"] == ["nl", "en"] and queue["open"] is True


async def test_a_foreign_origin_is_refused(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    for origin in (
        "https://evil.example",
        world.origin + ":8443",
        world.origin.replace("https", "http"),
        "null",
    ):
        status, body, headers = await start_session(http, server, world.widget_key, origin)
        assert_refused(status, body, headers, 403, "origin_not_allowed")


async def test_the_origin_of_another_organisations_key_is_refused(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    other = await make_world(backend)
    status, body, headers = await start_session(http, server, world.widget_key, other.origin)
    assert_refused(status, body, headers, 403, "origin_not_allowed")


async def test_a_request_without_origin_is_refused(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await start_session(http, server, world.widget_key, None)
    assert_refused(status, body, headers, 403, "origin_required")


async def test_an_unknown_widget_key_is_refused(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await start_session(http, server, "wk_" + "x" * 32, world.origin)
    assert_refused(status, body, headers, 403, "widget_key_invalid")


async def test_a_deactivated_widget_key_is_refused(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await db.execute(update(WidgetKey).where(WidgetKey.key == world.widget_key).values(active=False))
            await db.commit()
    finally:
        await engine.dispose()
    status, body, headers = await start_session(http, server, world.widget_key, world.origin)
    assert_refused(status, body, headers, 403, "widget_key_invalid")


async def preflight(
    http: aiohttp.ClientSession, server: TestServer, origin: str | None
) -> aiohttp.ClientResponse:
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    if origin is not None:
        headers["Origin"] = origin
    async with http.options(base_url(server) + SESSIONS, headers=headers) as response:
        await response.read()
        return response


async def test_a_preflight_from_an_allowed_origin_is_answered(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    response = await preflight(http, server, world.origin)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == world.origin
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.example", None])
async def test_a_preflight_from_another_origin_is_denied(
    server: TestServer, world: World, http: aiohttp.ClientSession, origin: str | None
) -> None:
    response = await preflight(http, server, origin)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_sessions_are_rate_limited_per_ip(
    proxied: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    await fresh_rate_window()
    statuses = []
    for _ in range(31):
        status, body, headers = await start_session(
            http, proxied, world.widget_key, world.origin, "203.0.113.5"
        )
        statuses.append(status)
    assert statuses == [200] * 30 + [429]
    assert body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 60
    status, body, _ = await start_session(http, proxied, world.widget_key, world.origin, "203.0.113.6")
    assert status == 200, body


def closed_hours(now: datetime) -> tuple[dict[str, list[list[str]]], datetime]:
    """Opening hours (UTC) for only the day after tomorrow, and when that opens."""
    day = now.date() + timedelta(days=2)
    return {DAYS[day.weekday()]: [["09:00", "10:00"]]}, datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def hours_around_now(zone: str) -> dict[str, list[list[str]]]:
    """One hour, in ``zone``'s local time, that contains this moment."""
    local = datetime.now(ZoneInfo(zone))
    end = "24:00" if local.hour == 23 else f"{local.hour + 1:02d}:00"
    return {DAYS[local.weekday()]: [[f"{local.hour:02d}:00", end]]}


async def test_queues_are_listed_open_or_closed_from_their_opening_hours(
    server: TestServer, backend: Backend, http: aiohttp.ClientSession
) -> None:
    now = datetime.now(UTC)
    if now.minute == 59 and now.second > 50:
        await asyncio.sleep(11)
        now = datetime.now(UTC)
    world = await make_world(backend)
    hours, opens_at = closed_hours(now)
    always = {day: [["00:00", "24:00"]] for day in DAYS}
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            for name, fields in {
                "Closed": {"opening_hours": hours, "timezone": "UTC"},
                "Always": {"opening_hours": always, "timezone": "UTC"},
                "Now in Tokyo": {"opening_hours": hours_around_now("Asia/Tokyo"), "timezone": "Asia/Tokyo"},
            }.items():
                await directory.create_queue(db, org_id=world.org_id, actor="test", name=name, **fields)
            await db.commit()
    finally:
        await engine.dispose()

    status, body, _ = await start_session(http, server, world.widget_key, world.origin)
    assert status == 200, body
    queues = {queue["name"]: queue for queue in body["queues"]}
    assert sorted(queues) == ["Always", "Closed", "Now in Tokyo", "Sales"]
    assert queues["Closed"]["open"] is False
    assert datetime.fromisoformat(queues["Closed"]["opens_at"]) == opens_at
    for name in ("Always", "Now in Tokyo", "Sales"):
        assert queues[name]["open"] is True, queues[name]
        assert queues[name]["opens_at"] is None
    # The widget shows a queue's times in the queue's own time zone, not the browser's.
    assert queues["Now in Tokyo"]["timezone"] == "Asia/Tokyo" and queues["Closed"]["timezone"] == "UTC"


async def test_the_visitor_token_is_a_visitor_of_the_org_with_a_fresh_random_subject(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    tokens = server.app[TOKENS]
    subjects = set()
    for _ in range(3):
        status, body, _ = await start_session(http, server, world.widget_key, world.origin)
        assert status == 200, body
        claims = tokens.verify_visitor(body["visitor_token"])
        assert claims.org_id == world.org_id
        subjects.add(claims.visitor_id)
        with pytest.raises(Unauthenticated):
            tokens.verify_staff(body["visitor_token"])
    assert len(subjects) == 3
    assert all(len(subject) >= 20 for subject in subjects)


async def test_the_access_log_row_carries_the_visitor_id_and_nothing_personal(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await start_session(http, server, world.widget_key, world.origin)
    assert status == 200
    visitor_id = server.app[TOKENS].verify_visitor(body["visitor_token"]).visitor_id
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            row = await db.scalar(select(AccessLogEntry).where(AccessLogEntry.visitor_id == visitor_id))
    finally:
        await engine.dispose()
    assert row is not None
    assert (row.method, row.path, row.status, row.user_id) == ("POST", SESSIONS, 200, None)
    assert body["visitor_token"] not in repr(vars(row))


async def test_a_recording_queue_brings_the_consent_texts_to_show(
    proxied: TestServer, backend: Backend, http: aiohttp.ClientSession
) -> None:
    world = await make_world(backend, recording_policy="ask")
    status, body, _ = await start_session(http, proxied, world.widget_key, world.origin)
    assert status == 200, body
    by_language = {text["language"]: text for text in body["consent_texts"]}
    assert set(by_language) == {"nl", "en", "de", "fr"}
    assert {text["id"] for text in body["consent_texts"]} == {"recording-v1"}
    assert "withdraw" in by_language["en"]["text"]
