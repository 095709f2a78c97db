"""``python -m bench.fuzz``: a few hundred fixed-seed cases against an embedded Loket find no
failure; the same seed draws the same cases; and the judge does fail a 5xx, a 4xx without the
error shape, a hang and a malformed acknowledgement."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.fuzz import runner as fuzz
from bench.fuzz.strategies import RestCase, socket_cases
from bench.fuzz.target import Target

LAST_LINE = re.compile(r"^cases=(?P<cases>\d+) failures=(?P<failures>\d+) \(.*\) seconds=\d+$")


@pytest.mark.timeout(300)
def test_three_hundred_fixed_seed_cases_find_no_failure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", "--cases", "300", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    matched = LAST_LINE.match(last)
    assert matched, done.stdout + done.stderr
    assert int(matched["cases"]) == 300
    assert (int(matched["failures"]), done.returncode) == (0, 0), done.stdout


def test_the_same_seed_draws_the_same_cases() -> None:
    def draw(seed_value: int) -> list[Any]:
        drawn: list[Any] = []

        async def keep(case: Any) -> None:
            drawn.append(case)

        loop = fuzz._Loop()
        try:
            fuzz._fuzz(loop, fuzz.Report(), "socket", socket_cases(), keep, 25, seed_value, None)
        finally:
            loop.close()
        return drawn

    first = draw(7)
    assert len(first) == 25
    assert draw(7) == first
    assert draw(8) != first


@pytest.fixture
async def broken_server() -> Any:
    """A server that breaks the rules the fuzzer checks, one path each."""

    async def crash(_request: web.Request) -> web.Response:
        return web.Response(status=500, text="Traceback ...")

    async def bare_404(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="not found")

    async def proper_404(_request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "not_found", "message": "no such thing"}}, status=404)

    async def hang(_request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response()

    app = web.Application()
    app.router.add_get("/api/v1/crash", crash)
    app.router.add_get("/api/v1/bare", bare_404)
    app.router.add_get("/api/v1/proper", proper_404)
    app.router.add_get("/api/v1/hang", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_the_judge_fails_a_5xx_a_bare_4xx_and_a_hang(
    broken_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fuzz, "HANG_SECONDS", 0.5)
    async with aiohttp.ClientSession() as http:
        target = cast(
            Target,
            SimpleNamespace(
                url=str(broken_server.make_url("")).rstrip("/"), http=http, admin="a", visitor_token="v"
            ),
        )
        checks = fuzz.Checks(target)

        async def judge(path: str) -> str | None:
            return await checks.rest(RestCase("GET", path, (), "none", None, None))

        assert (await judge("/api/v1/crash") or "").startswith("REST 500")
        assert "without the error shape" in (await judge("/api/v1/bare") or "")
        assert await judge("/api/v1/proper") is None
        assert (await judge("/api/v1/hang") or "").startswith("REST hang")


def test_acknowledgements_must_have_the_contracts_shape() -> None:
    assert fuzz._ack_shape({"ok": True, "call_id": "x"})
    assert fuzz._ack_shape({"ok": False, "error": {"code": "bad", "message": "why"}})
    for wrong in (
        None,
        "ok",
        {"ok": "yes"},
        {"ok": False},
        {"ok": False, "error": {"code": 1, "message": ""}},
    ):
        assert not fuzz._ack_shape(wrong), wrong
