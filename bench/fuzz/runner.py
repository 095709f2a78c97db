"""Run the fuzz cases against a target and judge each answer.

The server runs in an event loop on a thread of its own; Hypothesis (``@given``, generation only, no
shrinking, a fixed seed) draws each case on the main thread and waits for its check. A case fails
when the server:

- answers REST with a 5xx, or with a 4xx under ``/api/v1`` that is not ``{"error": {code, message}}``;
- leaves a socket.io event unacknowledged for 5 s, acknowledges it in another shape than
  ``{ok: true, ...}`` / ``{ok: false, error: {code, message}}``, or drops the connection;
- does the same with an SDP offer (``rtc:offer`` in an accepted call);
- takes longer than 10 s over anything (a hang);
- logs an unexpected exception (an ERROR record with a traceback from Loket's own packages).

After the cases: the control visitor must still be connected and waiting with the same call, a
valid offer must still be answered, and ``/healthz`` and ``/readyz`` must answer 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiortc import RTCPeerConnection
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from yarl import URL

from bench.fuzz.strategies import RestCase, SdpCase, SocketCase, rest_cases, sdp_cases, socket_cases
from bench.fuzz.target import Target, start_target

T = TypeVar("T")
HANG_SECONDS = 10.0
OUR_PACKAGES = ("loket", "api", "signaling", "accounts", "media", "recordings", "privacy", "webhooks", "db")
SHARES = {"rest": 0.5, "socket": 0.35, "sdp": 0.15}


@dataclass
class Report:
    cases: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SHARES, 0))
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def line(self) -> str:
        kinds = " ".join(
            f"{kind}={count} in {self.seconds.get(kind, 0):.1f}s" for kind, count in self.cases.items()
        )
        return f"cases={self.total} failures={len(self.failures)} ({kinds})"


class _Errors(logging.Handler):
    """Unexpected exceptions logged by Loket's own code while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.split(".")[0] in OUR_PACKAGES:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "?"
            self.seen.append(f"{record.name}: {record.getMessage()[:200]} ({kind})")


class _Loop:
    """An event loop on its own thread; ``run`` waits for a coroutine from the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = HANG_SECONDS * 3) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.run(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def _error_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    )


def _internal_error(ack: Any) -> bool:
    """The socket's 5xx: the server failed where it should have refused."""
    return (
        isinstance(ack, dict)
        and ack.get("ok") is False
        and (ack.get("error") or {}).get("code") == "internal_error"
    )


def _ack_shape(ack: Any) -> bool:
    if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
        return False
    return True if ack["ok"] else _error_shape(ack)


async def _routes(target: Target) -> list[tuple[str, str, tuple[str, ...]]]:
    async with target.http.get(f"{target.url}/api/v1/openapi.json") as answer:
        document = await answer.json()
    routes = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            query = tuple(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
            routes.append((method.upper(), path, query))
    return routes


async def _offer_template() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.addTransceiver("video")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


class Checks:
    """One check per kind of case; each returns a failure description or None."""

    def __init__(self, target: Target) -> None:
        self.target = target

    async def rest(self, case: RestCase) -> str | None:
        target = self.target
        headers = {}
        credential = {"admin": target.admin, "visitor": target.visitor_token, "garbage": "garbage"}.get(
            case.auth
        )
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        if case.content_type:
            headers["Content-Type"] = case.content_type
        path = urllib.parse.quote(case.path, safe="/-_.~%")
        query = urllib.parse.urlencode(case.query)
        url = URL(f"{target.url}{path}" + (f"?{query}" if query else ""), encoded=True)
        try:
            async with (
                asyncio.timeout(HANG_SECONDS),
                target.http.request(case.method, url, data=case.body, headers=headers) as answer,
            ):
                raw = await answer.read()
                status, content_type = answer.status, answer.content_type
        except TimeoutError:
            return f"REST hang: {case}"
        except aiohttp.ClientConnectionError as exc:
            return f"REST connection failed ({exc.__class__.__name__}): {case}"
        if status >= 500:
            return f"REST {status}: {case} -> {raw[:200]!r}"
        if path.startswith("/api/v1") and 400 <= status < 500 and case.method != "HEAD":
            body = None
            if content_type == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            if not _error_shape(body):
                return f"REST {status} without the error shape: {case} -> {raw[:200]!r}"
        return None

    async def socket(self, case: SocketCase) -> str | None:
        client = self.target.visitor if case.namespace == "/visitor" else self.target.adviser
        if not client.connected:
            await client.reconnect()
        try:
            ack = await client.call(case.event, case.payload)
        except TimeoutError:
            return f"socket no ack within 5 s: {case.namespace} {case.event!r}"
        except (ValueError, TypeError) as exc:  # refused by the client library itself: not sent
            del exc
            return None
        failure = (
            None if _ack_shape(ack) else f"socket ack shape: {case.namespace} {case.event!r} -> {ack!r:.200}"
        )
        if _internal_error(ack):
            failure = f"socket internal_error: {case.namespace} {case.event!r} {case.payload!r:.300}"
        await asyncio.sleep(0)
        if not client.connected:
            await client.reconnect()
            failure = failure or f"socket dropped the connection: {case.namespace} {case.event!r}"
        return failure

    async def sdp(self, case: SdpCase) -> str | None:
        client = self.target.media_visitor
        try:
            ack = await client.call(
                "rtc:offer", {"sdp": case.sdp, "type": case.sdp_type}, timeout=HANG_SECONDS
            )
        except TimeoutError:
            return f"SDP offer unanswered: {case.sdp[:300]!r}"
        if not _ack_shape(ack) or (ack["ok"] and not isinstance(ack.get("sdp"), str)):
            return f"SDP ack shape: {ack!r:.200}"
        if _internal_error(ack):
            return f"SDP internal_error for type {case.sdp_type!r} and offer {case.sdp!r:.600}"
        if not client.connected:
            await client.reconnect()
            return "SDP offer dropped the connection"
        return None

    async def after(self) -> list[str]:
        """What must still hold once every case ran (see the module doc)."""
        target, failures = self.target, []
        if not target.control.connected:
            failures.append("the control visitor was disconnected")
        else:
            state = await target.control.call("session:resume", {"last_seq": target.control.last_seq})
            call = (state or {}).get("call") or {}
            if call.get("call_id") != target.control_call or call.get("status") not in ("waiting", "ringing"):
                failures.append(f"the control visitor's call changed: {state!r:.300}")
        pc = RTCPeerConnection()
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        await pc.setLocalDescription(await pc.createOffer())
        if not target.media_visitor.connected:
            await target.media_visitor.reconnect()
        ack = await target.media_visitor.call("rtc:offer", {"sdp": pc.localDescription.sdp, "type": "offer"})
        await pc.close()
        if not (isinstance(ack, dict) and ack.get("ok")):
            failures.append(f"a valid offer is no longer answered: {ack!r:.200}")
        for path in ("/healthz", "/readyz"):
            async with target.http.get(target.url + path) as answer:
                if answer.status != 200:
                    failures.append(f"{path} answered {answer.status}")
        return failures


def run(cases: int, *, seed_value: int = 0, on_case: Callable[[str], None] | None = None) -> Report:
    """Run ``cases`` fuzz cases (shared among REST, socket.io and SDP) with ``seed_value``."""
    report = Report()
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    loop = _Loop()
    target = loop.run(start_target())
    try:
        checks = Checks(target)
        routes = loop.run(_routes(target))
        template = loop.run(_offer_template())
        plans: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], Awaitable[str | None]]]] = [
            ("rest", rest_cases(routes), checks.rest),
            ("socket", socket_cases(), checks.socket),
            ("sdp", sdp_cases(template), checks.sdp),
        ]
        for kind, strategy, check in plans:
            started = time.monotonic()
            count = max(1, round(cases * SHARES[kind]))
            _fuzz(loop, report, kind, strategy, check, count, seed_value, on_case)
            report.seconds[kind] = time.monotonic() - started
        report.failures += loop.run(checks.after())
    finally:
        loop.run(target.close())
        loop.close()
        logging.getLogger().removeHandler(errors)
    report.failures += [f"logged: {line}" for line in dict.fromkeys(errors.seen)]
    return report


def _fuzz(
    loop: _Loop,
    report: Report,
    kind: str,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], Awaitable[str | None]],
    count: int,
    seed_value: int,
    on_case: Callable[[str], None] | None,
) -> None:
    """Draw ``count`` cases of ``strategy`` (generation only: a failure is recorded, never shrunk,
    so every case runs) and judge each with ``check``."""

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(strategy)
    def one(case: Any) -> None:
        report.cases[kind] += 1
        try:
            failure = loop.run(_bounded(check(case)))
        except TimeoutError:
            failure = f"{kind} hang: {case!r:.300}"
        if failure is not None:
            report.failures.append(failure)
            if on_case is not None:
                on_case(failure)

    one()


async def _bounded(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(HANG_SECONDS * 2):
        return await awaitable


async def _cancel_the_rest() -> None:
    """Tasks libraries left behind (engine.io pings of closed sockets): cancelled, not destroyed."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
