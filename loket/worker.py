"""Assemble the worker's periodic jobs: the access-log purge, the recording uploads, the
retention sweep (recordings and call metadata past their deadline), privacy requests (erasure
and export by reference code) and the expiry of their exports, transcription of recorded calls
(when ``LOKET_TRANSCRIPTION_ENABLED``), and the sweep of expired transcripts and chat messages.

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

from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, create_engine, create_session_factory, purge_older_than, utcnow
from loket.settings import Settings
from privacy import (
    DataErased,
    expire_exports,
    process_requests,
    remove_stale_plaintext,
    sweep_expired,
    sweep_expired_call_data,
)
from recordings import RecordingsConfig, Storage, retry_pending_uploads, storage_from_config
from transcription import TranscriptionConfig, TranscriptionJob
from webhooks import WebhookConfig, WebhookEvent, enqueue_event
from webhooks.delivery import WebhookSender

logger = logging.getLogger(__name__)


async def data_erased(db: AsyncSession, erased: DataErased) -> None:
    """The ``data.erased`` webhook, owed in the transaction that marks the erasure done."""
    await enqueue_event(db, erased.org_id, WebhookEvent.DATA_ERASED, erased.payload())


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
        privacy_interval_seconds: float = 10.0,
        webhooks: WebhookConfig | None = None,
        transcription: TranscriptionConfig | None = None,
        transcription_interval_seconds: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._access_log_days = access_log_days
        self.jobs = [Job("access-log purge", 600.0, self.purge_access_log)]
        if storage is not None and recordings is not None:
            config = recordings

            async def uploads() -> int:
                # enqueue_event owes the recording.stored webhook in the "stored" transaction.
                return await retry_pending_uploads(sessions, storage, config, on_stored=enqueue_event)

            self.jobs.append(Job("recording uploads", upload_interval_seconds, uploads))

            async def retention() -> int:
                return await sweep_expired(sessions, storage, config)

            self.jobs.append(Job("retention sweep", retention_interval_seconds, retention))

            async def privacy_requests() -> int:
                return await process_requests(sessions, storage, config, on_erased=data_erased)

            # Erasure is promised within the hour: a request waits at most this long to start.
            self.jobs.append(Job("privacy requests", privacy_interval_seconds, privacy_requests))

            async def export_expiry() -> int:
                # Also the decrypted copies (exports, playbacks) of processes that died mid-use.
                await asyncio.to_thread(remove_stale_plaintext, config)
                return await expire_exports(sessions, storage)

            self.jobs.append(Job("export expiry", 60.0, export_expiry))
            if transcription is not None:
                # The Whisper model loads on the first call to transcribe, not here.
                transcriber = TranscriptionJob(
                    sessions=sessions,
                    storage=storage,
                    recordings=config,
                    config=transcription,
                    on_ready=enqueue_event,
                )
                self.jobs.append(Job("transcription", transcription_interval_seconds, transcriber.run))

        async def call_data_retention() -> int:
            return sum((await sweep_expired_call_data(sessions)).values())

        self.jobs.append(
            Job("transcript and chat retention", retention_interval_seconds, call_data_retention)
        )
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
        transcription=settings.transcription(),
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
