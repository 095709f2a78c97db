"""The HTTP edge: health, readiness, OpenAPI, metrics, the access log, client addresses, JSON errors."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from db import AccessLogEntry, create_engine, create_session_factory
from loket.app import METRICS_SERVER, create_app
from tests.conftest import PASSWORD, Backend, World, base_url

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def make_server(backend: Backend) -> AsyncIterator[ServerFactory]:
    """Start the app with settings overrides; every started server is closed afterwards."""
    started: list[TestServer] = []

    async def make(**overrides: Any) -> TestServer:
        test_server = TestServer(
            create_app(backend.settings(**overrides), run_worker=False), host="127.0.0.1"
        )
        await test_server.start_server()
        started.append(test_server)
        return test_server

    yield make
    for test_server in started:
        await test_server.close()


async def fetch(
    http: aiohttp.ClientSession, server: TestServer, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, Any]:
    async with http.request(method, base_url(server) + path, **kwargs) as response:
        text = await response.text()
        body = await response.json() if response.content_type == "application/json" else text
        return response.status, body, response.headers


async def access_rows(backend: Backend, user_agent: str) -> list[AccessLogEntry]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            query = select(AccessLogEntry).where(AccessLogEntry.user_agent == user_agent)
            return list(await db.scalars(query.order_by(AccessLogEntry.id)))
    finally:
        await engine.dispose()


def agent() -> str:
    return f"edge-test/{uuid.uuid4().hex}"


def assert_json_error(status: int, body: Any, expected: int, code: str) -> None:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- health ----------------------------------------------------------------------------------


async def test_healthz_answers_while_the_process_is_up(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await fetch(http, server, "GET", "/healthz")
    assert (status, body) == (200, {"status": "ok"})


async def test_readyz_reports_the_database_and_realtime_state_reachable(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await fetch(http, server, "GET", "/readyz")
    assert status == 200, body
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "realtime": "ok", "storage": "ok", "media": "ok"},
    }


async def test_readyz_is_503_when_the_database_is_unreachable(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings_url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/loket"
    backend = Backend("unreachable", settings_url, tmp_path)
    test_server = TestServer(create_app(backend.settings(), run_worker=False), host="127.0.0.1")
    await test_server.start_server()
    try:
        status, body, _ = await fetch(http, test_server, "GET", "/readyz")
        assert status == 503, body
        assert body["error"]["code"] == "not_ready"
        assert body["checks"] == {"database": "unreachable", "realtime": "ok", "storage": "ok", "media": "ok"}
        assert body["error"]["message"] == "not ready: database unreachable"
        status, body, _ = await fetch(http, test_server, "GET", "/healthz")
        assert (status, body) == (200, {"status": "ok"})
    finally:
        await test_server.close()


# -- OpenAPI ---------------------------------------------------------------------------------


def registered_api_routes(server: TestServer) -> set[tuple[str, str]]:
    routes = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/v1") and route.method not in ("HEAD", "*"):
            routes.add((route.method.lower(), path))
    return routes


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


async def test_openapi_document_is_3_1_and_covers_every_registered_api_route(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    status, document, _ = await fetch(http, server, "GET", "/api/v1/openapi.json")
    assert status == 200
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    registered = registered_api_routes(server)
    assert {("post", "/api/v1/auth/login"), ("post", "/api/v1/widget/sessions")} <= registered
    assert registered - documented == set(), "served but not documented"
    assert documented - registered == set(), "documented but not served"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            assert operation.get("summary"), (method, path)


async def test_every_schema_reference_in_the_openapi_document_resolves(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    _, document, _ = await fetch(http, server, "GET", "/api/v1/openapi.json")
    found = refs(document)
    assert "#/components/schemas/LoginRequest" in found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref


async def test_openapi_login_operation_documents_its_body_and_error_shape(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    _, document, _ = await fetch(http, server, "GET", "/api/v1/openapi.json")
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginRequest"
    }
    assert set(document["components"]["schemas"]["LoginRequest"]["required"]) == {"email", "password"}
    error = login["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorResponse"}


# -- metrics ---------------------------------------------------------------------------------


async def metric_samples(http: aiohttp.ClientSession, server: TestServer) -> dict[tuple[str, str], float]:
    # On the internal metrics port, never on the public app (tests/loket/test_observability.py).
    async with http.get(server.app[METRICS_SERVER].url) as response:
        status, text, headers = response.status, await response.text(), response.headers
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == "text/plain"
    assert "version=0.0.4" in headers["Content-Type"]
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["loket_http_requests"].type == "counter"
    assert families["loket_socket_connections"].type == "gauge"
    return {
        (sample.labels["method"], sample.labels["status"]): sample.value
        for sample in families["loket_http_requests"].samples
        if sample.name == "loket_http_requests_total"
    }


async def test_metrics_are_prometheus_text_counting_requests(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await make_server(metrics_port=0)
    for _ in range(3):
        await fetch(http, server, "GET", "/healthz")
    counted = await metric_samples(http, server)
    assert counted[("GET", "200")] == 3


async def test_metrics_count_error_responses_by_status(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await make_server(metrics_port=0)
    await fetch(http, server, "GET", "/api/v1/no-such-thing")
    await fetch(http, server, "POST", "/api/v1/auth/login", json={"email": "x@example.test", "password": "x"})
    counted = await metric_samples(http, server)
    assert counted.get(("GET", "404")) == 1
    assert counted.get(("POST", "401")) == 1


# -- access log ------------------------------------------------------------------------------


async def test_every_request_writes_an_access_log_row(
    server: TestServer, backend: Backend, http: aiohttp.ClientSession
) -> None:
    user_agent = agent()
    headers = {"User-Agent": user_agent}
    await fetch(http, server, "GET", "/healthz", headers=headers)
    await fetch(http, server, "GET", "/api/v1/no-such-thing?secret=1", headers=headers)
    await fetch(http, server, "DELETE", "/healthz", headers=headers)
    await fetch(
        http,
        server,
        "POST",
        "/api/v1/auth/login",
        headers=headers,
        json={"email": "a@b.example", "password": "x"},
    )
    rows = await access_rows(backend, user_agent)
    assert [(row.method, row.path, row.status) for row in rows] == [
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/no-such-thing", 404),
        ("DELETE", "/healthz", 405),
        ("POST", "/api/v1/auth/login", 401),
    ]
    for row in rows:
        assert row.ip == "127.0.0.1"
        assert row.user_agent == user_agent
        assert row.occurred_at.tzinfo is not None
        assert 0 <= row.duration_ms < 10_000
        assert row.visitor_id is None and row.user_id is None


async def test_the_public_scripts_leave_no_access_log_row_unless_the_fetch_fails(
    server: TestServer, backend: Backend, http: aiohttp.ClientSession
) -> None:
    # Every page view of every customer's website loads widget.js: no address is kept for it.
    user_agent = agent()
    headers = {"User-Agent": user_agent}
    for path in ("/widget.js", "/assets/console.js"):
        status, _, _ = await fetch(http, server, "GET", path, headers=headers)
        assert status == 200, path
    await fetch(http, server, "GET", "/assets/missing.js", headers=headers)
    await fetch(http, server, "POST", "/widget.js", headers=headers)
    await fetch(http, server, "GET", "/console/", headers=headers)
    rows = await access_rows(backend, user_agent)
    assert [(row.method, row.path, row.status) for row in rows] == [
        ("GET", "/assets/missing.js", 404),
        ("POST", "/widget.js", 405),
        ("GET", "/console/", 200),
    ]


async def test_a_successful_login_is_logged_with_the_user_id(
    server: TestServer, world: World, backend: Backend, http: aiohttp.ClientSession
) -> None:
    email, user_id = await world.add_user()
    user_agent = agent()
    status, _, _ = await fetch(
        http,
        server,
        "POST",
        "/api/v1/auth/login",
        headers={"User-Agent": user_agent},
        json={"email": email, "password": PASSWORD},
    )
    assert status == 200
    [row] = await access_rows(backend, user_agent)
    assert (row.status, row.user_id) == (200, user_id)


@pytest.mark.parametrize(
    ("trusted", "forwarded", "logged"),
    [
        ([], "203.0.113.9", "127.0.0.1"),
        (["10.0.0.0/8"], "203.0.113.9", "127.0.0.1"),
        (["127.0.0.1/32"], "203.0.113.9", "203.0.113.9"),
        (["127.0.0.1/32"], "198.51.100.7, 203.0.113.9", "203.0.113.9"),
        (["127.0.0.1/32", "203.0.113.0/24"], "198.51.100.7, 203.0.113.9", "198.51.100.7"),
        (["127.0.0.1/32"], "not-an-address", "127.0.0.1"),
        (["127.0.0.0/8"], "2001:db8::1", "2001:db8::1"),
    ],
)
async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    make_server: ServerFactory,
    backend: Backend,
    http: aiohttp.ClientSession,
    trusted: list[str],
    forwarded: str,
    logged: str,
) -> None:
    test_server = await make_server(trusted_proxies=trusted)
    user_agent = agent()
    headers = {"User-Agent": user_agent, "X-Forwarded-For": forwarded}
    status, _, _ = await fetch(http, test_server, "GET", "/healthz", headers=headers)
    assert status == 200
    [row] = await access_rows(backend, user_agent)
    assert row.ip == logged


# -- JSON errors -----------------------------------------------------------------------------


async def test_an_oversized_body_is_a_413_json_error(
    server: TestServer, world: World, http: aiohttp.ClientSession
) -> None:
    big = {"email": "a@b.example", "password": "x" * (65 * 1024)}
    status, body, _ = await fetch(http, server, "POST", "/api/v1/auth/login", json=big)
    assert_json_error(status, body, 413, "request_entity_too_large")
    status, body, _ = await fetch(
        http,
        server,
        "POST",
        "/api/v1/widget/sessions",
        json={"widget_key": world.widget_key, "padding": "x" * (65 * 1024)},
        headers={"Origin": world.origin},
    )
    assert_json_error(status, body, 413, "request_entity_too_large")


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/nothing-here", "/api/v1/auth"])
async def test_an_unknown_route_is_a_404_json_error(
    server: TestServer, http: aiohttp.ClientSession, path: str
) -> None:
    status, body, _ = await fetch(http, server, "GET", path)
    assert_json_error(status, body, 404, "not_found")


async def test_a_wrong_method_is_a_405_json_error_naming_the_allowed_ones(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await fetch(http, server, "GET", "/api/v1/auth/login")
    assert_json_error(status, body, 405, "method_not_allowed")
    assert headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("raw", "content_type", "code", "mentions"),
    [
        (b'{"email": "a@b.example", "password": ', "application/json", "invalid_input", None),
        (b"[1, 2, 3]", "application/json", "invalid_input", None),
        (b'{"email": "a@b.example"}', "application/json", "invalid_input", "password"),
        (
            b'{"email": "a@b.example", "password": "x", "admin": true}',
            "application/json",
            "invalid_input",
            "admin",
        ),
        (
            b"email=a@b.example&password=x",
            "application/x-www-form-urlencoded",
            "unsupported_media_type",
            None,
        ),
        (b"\xff\xfe{}", "application/json", "invalid_input", None),
    ],
)
async def test_a_malformed_body_is_a_422_json_error(
    server: TestServer,
    http: aiohttp.ClientSession,
    raw: bytes,
    content_type: str,
    code: str,
    mentions: str | None,
) -> None:
    status, body, _ = await fetch(
        http, server, "POST", "/api/v1/auth/login", data=raw, headers={"Content-Type": content_type}
    )
    assert_json_error(status, body, 422, code)
    if mentions:
        assert re.search(rf"\b{mentions}\b", body["error"]["message"]), body
    assert "correct horse" not in body["error"]["message"]
