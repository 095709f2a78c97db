"""``GET /readyz``: whether this node can serve, dependency by dependency.

Every dependency is checked at once, each within ``CHECK_SECONDS`` (a dependency that hangs
is as down as one that refuses), and reported by name:

- ``database``: ``SELECT 1``;
- ``realtime``: the realtime store answers a ping (Redis; the in-memory store always does);
- ``storage``: the recording storage answers a ``HEAD`` of a key that does not exist (S3
  checks the bucket too: a missing bucket is down, a missing object is not);
- ``media``: where this node's calls get their media — in this process (always ``ok``), or
  the media nodes registered in Redis, of which at least one must be alive
  (``no_live_node`` otherwise: no call could be answered).

Values are ``ok``, ``unreachable``, ``timeout`` or ``no_live_node``. All ``ok``: 200
``{"status": "ready", "checks": {...}}``; otherwise 503 ``{"error": {"code": "not_ready",
"message"}, "checks": {...}}``, the message naming what is down. Nothing in the answer says
more than a name and a word: no addresses, no error text (those go to the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from db import SessionFactory
from media.node import ClusterConfig, Registry
from recordings import Storage
from recordings.errors import ObjectNotFound
from signaling.store import RealtimeStore

logger = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
# A key no recording has (recordings are {call id}/...), only ever asked about, never written.
PROBE_KEY = "readyz/probe"

Check = Callable[[], Awaitable[str]]


class Readiness:
    """The checks of one node; ``start()`` then ``stop()`` (a Redis client for the media registry)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        store: RealtimeStore,
        storage: Storage,
        media_cluster: ClusterConfig | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._storage = storage
        self._registry = Registry(media_cluster) if media_cluster is not None else None
        self._seconds = check_seconds
        self.checks: dict[str, Check] = {
            "database": self._database,
            "realtime": self._realtime,
            "storage": self._storage_answers,
            "media": self._media,
        }

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._registry is not None:
            await self._registry.stop()

    async def check(self) -> dict[str, str]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._bounded(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _bounded(self, name: str) -> str:
        try:
            async with asyncio.timeout(self._seconds):
                return await self.checks[name]()
        except TimeoutError:
            logger.warning("readiness: %s did not answer within %g s", name, self._seconds)
            return "timeout"
        except Exception as exc:  # any failure means not ready; the log says which kind
            logger.warning("readiness: %s unreachable: %s", name, exc.__class__.__name__)
            return "unreachable"

    async def _database(self) -> str:
        async with self._sessions() as db:
            await db.execute(text("SELECT 1"))
        return "ok"

    async def _realtime(self) -> str:
        return "ok" if await self._store.ping() else "unreachable"

    async def _storage_answers(self) -> str:
        # It answered when it says the object is missing, as it should be.
        with contextlib.suppress(ObjectNotFound):
            await self._storage.head(PROBE_KEY)
        return "ok"

    async def _media(self) -> str:
        if self._registry is None:
            return "ok"  # in this process
        return "ok" if await self._registry.nodes() else "no_live_node"


READINESS: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)


async def readyz(request: web.Request) -> web.Response:
    """Whether this node can serve, per dependency (see the module doc)."""
    checks = await request.app[READINESS].check()
    down = [name for name, value in checks.items() if value != "ok"]
    if not down:
        return web.json_response({"status": "ready", "checks": checks})
    message = "not ready: " + ", ".join(f"{name} {checks[name]}" for name in down)
    return web.json_response(
        {"error": {"code": "not_ready", "message": message}, "checks": checks}, status=503
    )
