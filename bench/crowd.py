"""Many light visitors and advisers (``bench.light_socket``) for the soak and socket benchmarks.

A visitor opens a widget session over REST, connects to ``/visitor`` and sends
``session:resume {last_seq: 0}``; an adviser logs in, connects to ``/adviser``, resumes and
sets itself available. Each client sends an ``X-Forwarded-For`` address of its own
(``bench.load.calls.client_address``), as the load tool's do. Also the resident memory of a
process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench.light_socket import LightSocket, Listener, SocketError
from bench.load.calls import Credentials, Target

Json = dict[str, Any]
T = TypeVar("T")


def http_session() -> aiohttp.ClientSession:
    """One HTTP session for thousands of websockets (aiohttp's default caps it at 100)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    )


async def _post(http: aiohttp.ClientSession, url: str, body: Json, headers: dict[str, str]) -> Json:
    try:
        async with http.post(url, json=body, headers=headers) as response:
            answer: Json = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SocketError(f"POST {url}: {exc.__class__.__name__} {exc}") from exc
    if response.status != 200:
        raise SocketError(f"POST {url}: {response.status} {answer.get('error', answer)}")
    return answer


async def ok(socket: LightSocket, event: str, data: Json | None = None, timeout: float = 30) -> Json:
    """``event``'s acknowledgement, which must be ``{ok: true}``."""
    ack = await socket.call(event, data, timeout=timeout)
    if not ack.get("ok"):
        raise SocketError(f"{socket.namespace} {event}: {ack.get('error')}")
    return ack


async def visitor(
    http: aiohttp.ClientSession, target: Target, address: str, listener: Listener | None = None
) -> LightSocket:
    """A visitor connected to ``/visitor`` and resumed (not in a queue yet)."""
    widget = await _post(
        http,
        target.url + "/api/v1/widget/sessions",
        {"widget_key": target.widget_key},
        {"X-Forwarded-For": address, "Origin": target.origin},
    )
    socket = LightSocket(http, "/visitor", listener)
    await socket.connect(target.url, widget["visitor_token"], address)
    await ok(socket, "session:resume", {"last_seq": 0})
    return socket


async def adviser(
    http: aiohttp.ClientSession,
    target: Target,
    credentials: Credentials,
    address: str,
    listener: Listener | None = None,
) -> LightSocket:
    """An adviser logged in, connected to ``/adviser``, resumed and available."""
    tokens = await _post(
        http,
        target.url + "/api/v1/auth/login",
        {"email": credentials.email, "password": credentials.password},
        {"X-Forwarded-For": address},
    )
    socket = LightSocket(http, "/adviser", listener)
    await socket.connect(target.url, tokens["access_token"], address)
    await ok(socket, "session:resume", {"last_seq": 0})
    await ok(socket, "presence:set", {"status": "available"})
    return socket


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], concurrency: int) -> list[T | BaseException]:
    """Run the jobs with at most ``concurrency`` at a time; each one's result or exception."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (``VmRSS`` in ``/proc/<pid>/status``); 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
