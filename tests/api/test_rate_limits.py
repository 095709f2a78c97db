"""Rate limits that hold: an IPv6 caller is one /64, and installation-wide caps bound anonymous
creation whatever the number of addresses, with 429 and Retry-After."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from accounts.config import RateLimit
from api.keys import CONFIG
from loket.app import create_app
from tests.conftest import Backend, World, base_url

SESSIONS = "/api/v1/widget/sessions"
PRIVACY = "/api/v1/privacy/requests"
KEY = "PK-ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"


@pytest.fixture
async def proxied(backend: Backend) -> AsyncIterator[TestServer]:
    """Behind a proxy on 127.0.0.1; at most 3 widget sessions per address a minute, and at
    most 5 widget sessions a minute and 4 privacy requests an hour for the installation."""
    settings = backend.settings(
        trusted_proxies=["127.0.0.1/32"], widget_sessions_per_minute=5, privacy_requests_per_hour=4
    )
    app = create_app(settings, run_worker=False)
    app[CONFIG] = dataclasses.replace(app[CONFIG], widget_sessions_per_ip=RateLimit(3, 60))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(shutdown_timeout=5.0)
    yield server
    await server.close()


async def post(
    server: TestServer, path: str, body: Any, address: str, origin: str = ""
) -> tuple[int, Any, Any]:
    headers = {"X-Forwarded-For": address}
    if origin:
        headers["Origin"] = origin
    async with (
        aiohttp.ClientSession() as http,
        http.post(base_url(server) + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(), response.headers


async def fresh_minute() -> None:
    """Start a burst early in a fixed window, so it is not split over two."""
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.05)


async def test_an_ipv6_caller_is_counted_by_its_64(proxied: TestServer, world: World) -> None:
    await fresh_minute()
    ask = {"widget_key": world.widget_key}
    for host in range(1, 4):
        status, body, _ = await post(proxied, SESSIONS, ask, f"2001:db8:aa:1::{host:x}", world.origin)
        assert status == 200, body
    # A new interface identifier in the same /64 is the same caller.
    status, body, headers = await post(proxied, SESSIONS, ask, "2001:db8:aa:1:dead:beef:0:1", world.origin)
    assert status == 429 and body["error"]["code"] == "rate_limited", body
    assert int(headers["Retry-After"]) >= 1
    status, body, _ = await post(proxied, SESSIONS, ask, "2001:db8:aa:2::1", world.origin)
    assert status == 200, body


async def test_widget_sessions_are_capped_for_the_whole_installation(
    proxied: TestServer, world: World
) -> None:
    ask = {"widget_key": world.widget_key}
    # Refused requests do not use up the cap.
    for attempt in range(3):
        status, _, _ = await post(
            proxied, SESSIONS, {"widget_key": "wk_nope"}, f"198.51.100.{attempt}", world.origin
        )
        assert 400 <= status < 500
    for attempt in range(5):
        status, body, _ = await post(proxied, SESSIONS, ask, f"203.0.113.{attempt}", world.origin)
        assert status == 200, body
    status, body, headers = await post(proxied, SESSIONS, ask, "192.0.2.99", world.origin)
    assert status == 429 and body["error"]["code"] == "rate_limited", body
    assert 1 <= int(headers["Retry-After"]) <= 60


async def test_privacy_requests_are_capped_for_the_whole_installation(proxied: TestServer) -> None:
    for attempt in range(4):
        status, body, _ = await post(
            proxied, PRIVACY, {"privacy_key": KEY, "kind": "erase"}, f"203.0.113.{attempt}"
        )
        assert status == 202, body
    status, body, headers = await post(proxied, PRIVACY, {"privacy_key": KEY, "kind": "erase"}, "192.0.2.99")
    assert status == 429 and body["error"]["code"] == "rate_limited", body
    assert 1 <= int(headers["Retry-After"]) <= 3600
