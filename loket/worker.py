"""Assemble the worker's periodic jobs: the access-log purge, the recording uploads and the
retention sweep (recordings and call metadata past their deadline).

In the embedded mode ``loket serve`` runs them in-process; in production ``loket worker``
runs them alone, as many times over as wanted (jobs claim rows with leases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from db import SessionFactory, create_engine, create_session_factory, purge_older_than, utcnow
from loket.settings import Settings
from recordings import RecordingsConfig, Storage, retry_pending_uploads, storage_from_config, sweep_expired
from signaling.webhook_delivery import WebhookSender
from signaling.webhooks import WebhookConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


class Worker:
    """Runs each job every ``interval_seconds`` until stopped; a failing job backs off (capped)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        access_log_days: int,
        storage: Storage | None = None,
        recordings: RecordingsConfig | None = None,
        upload_interval_seconds: float = 5.0,
        retention_interval_seconds: float = 60.0,
        webhooks: WebhookConfig | None = None,
    ) -> None:
        self._sessions = sessions
        self._access_log_days = access_log_days
        self.jobs = [Job("access-log purge", 600.0, self.purge_access_log)]
        if storage is not None and recordings is not None:
            config = recordings

            async def uploads() -> int:
                return await retry_pending_uploads(sessions, storage, config)

            self.jobs.append(Job("recording uploads", upload_interval_seconds, uploads))

            async def retention() -> int:
                return await sweep_expired(sessions, storage, config)

            self.jobs.append(Job("retention sweep", retention_interval_seconds, retention))
        # Owns the HTTP session all deliveries share.
        self._webhooks = WebhookSender(sessions, config=webhooks or WebhookConfig())
        self.jobs.append(Job("webhook delivery", 5.0, self._webhooks.run))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._webhooks.start()
        self._tasks = [asyncio.create_task(self._loop(job), name=f"worker: {job.name}") for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._webhooks.stop()

    async def purge_access_log(self) -> int:
        cutoff = utcnow() - timedelta(days=self._access_log_days)
        async with self._sessions() as db:
            purged = await purge_older_than(db, cutoff)
            await db.commit()
        if purged:
            logger.info("purged %d access-log rows older than %d days", purged, self._access_log_days)
        return purged

    async def _loop(self, job: Job) -> None:
        backoff = 1.0
        while True:
            try:
                await job.run()
                backoff = 1.0
                await asyncio.sleep(job.interval_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s failed; retrying in %.0f s", job.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)


async def run_worker(settings: Settings) -> None:
    """``loket worker``: run until SIGTERM or SIGINT, then finish the current step and stop."""
    engine = create_engine(settings.database_url)
    recordings = settings.recordings()
    storage = storage_from_config(recordings)
    worker = Worker(
        sessions=create_session_factory(engine),
        access_log_days=settings.access_log_days,
        storage=storage,
        recordings=recordings,
        webhooks=settings.webhooks(),
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await worker.start()
    logger.info("worker running: %s", ", ".join(job.name for job in worker.jobs))
    try:
        await stopping.wait()
    finally:
        await worker.stop()
        await storage.stop()
        await engine.dispose()
        logger.info("worker stopped")
