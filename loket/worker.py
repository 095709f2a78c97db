"""Assemble the worker's loops. Today: the access-log purge (GDPR: access logs live 7 days)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from db import SessionFactory, create_engine, create_session_factory, purge_older_than, utcnow
from loket.settings import Settings

logger = logging.getLogger(__name__)


class Worker:
    """Runs periodic jobs until stopped; in-process under ``loket serve`` or alone as ``loket worker``."""

    def __init__(
        self, *, sessions: SessionFactory, access_log_days: int, interval_seconds: float = 600.0
    ) -> None:
        self._sessions = sessions
        self._access_log_days = access_log_days
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loket-worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def purge_access_log(self) -> int:
        cutoff = utcnow() - timedelta(days=self._access_log_days)
        async with self._sessions() as db:
            purged = await purge_older_than(db, cutoff)
            await db.commit()
        if purged:
            logger.info("purged %d access-log rows older than %d days", purged, self._access_log_days)
        return purged

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self.purge_access_log()
                backoff = 1.0
                await asyncio.sleep(self._interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker cycle failed; retrying in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)


async def run_worker(settings: Settings) -> None:
    """``loket worker``: run until SIGTERM or SIGINT, then finish the current step and stop."""
    engine = create_engine(settings.database_url)
    worker = Worker(sessions=create_session_factory(engine), access_log_days=settings.access_log_days)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await worker.start()
    logger.info("worker running")
    try:
        await stopping.wait()
    finally:
        await worker.stop()
        await engine.dispose()
        logger.info("worker stopped")
