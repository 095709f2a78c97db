"""The worker's jobs, as one table, and the loop that runs them (docs/architecture.md, "Worker").

A job is ``Job(name, every=..., timeout=..., run=...)``; the table (``Worker``) holds the
access-log purge, the recording uploads, the retention sweep (recordings and call metadata past
their deadline), transcript and chat retention, privacy requests (erasure and export by reference
code) and the expiry of their exports, transcription of recorded calls (when
``LOKET_TRANSCRIPTION_ENABLED``), and webhook delivery. Every interval and timeout is a setting
(``loket.settings.WorkerConfig``). One ``JobContext`` per worker, handed to every run, holds the
id that claims rows and the clock that sets leases.

``JobRunner`` promises, for each job in its own task:

- a run, then ``every`` seconds, then the next run (the interval is counted from a run's end, so
  a slow run is never overlapped by the next one of the same job);
- each run inside ``asyncio.timeout(job.timeout)``: a run that overstays is cancelled (given
  up). Its lease renewals (``db.jobs.lease_kept``) stop with it, so the rows it held go to
  another worker once their leases run out; a row it had finished stays finished, since every
  write is conditional on the lease (``db.jobs.update_if_held``);
- a run that fails or is given up is logged and retried after a capped backoff (1, 2, 4, ...
  60 s by default), then back to ``every`` after the next success;
- ``stop()`` starts no new run, lets each run under way finish within the grace period, then
  cancels the rest. A cancelled run hands its rows back or leaves their leases to run out; it
  never leaves half-done work, because every step of every job is idempotent under its lease.

In the embedded mode ``loket serve`` runs the worker in-process; in production ``loket worker``
runs it alone, as many times over as wanted (jobs claim rows with leases).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from db import (
    Clock,
    SessionFactory,
    backoff,
    create_engine,
    create_session_factory,
    default_worker_id,
    purge_older_than,
)
from loket.metrics_server import Scraper, metrics_server
from loket.observability import JobState, WorkerMetrics
from loket.settings import Schedule, Settings, WorkerConfig
from privacy import (
    DataErased,
    expire_exports,
    expire_unmatched,
    process_requests,
    remove_stale_plaintext,
    sweep_expired,
    sweep_expired_call_data,
)
from recordings import RecordingsConfig, Storage, retry_pending_uploads, storage_from_config
from transcription import TranscriptionConfig, TranscriptionJob
from webhooks import WebhookConfig, WebhookEvent, WebhookSender, enqueue_event

logger = logging.getLogger(__name__)

# As TranscriptionJob.run's default limit: up to this many calls per pass.
TRANSCRIPTIONS_PER_PASS = 10


@dataclass(frozen=True, slots=True)
class JobContext:
    """What every run of every job of one worker shares: the id it claims rows as, the clock
    its leases and deadlines are set by (tests pass one that starts later), and whether the
    worker is stopping. A run cancelled while ``stopping`` is set was stopped (hand its rows
    back as untouched); one cancelled while it is clear overstayed its timeout (count it)."""

    worker_id: str = field(default_factory=default_worker_id)
    clock: Clock = field(default_factory=Clock)
    stopping: asyncio.Event = field(default_factory=asyncio.Event, compare=False)

    def __post_init__(self) -> None:
        # claimed_by is String(100) on every job table.
        if not 0 < len(self.worker_id) <= 100:
            raise ValueError("worker_id must be 1 to 100 characters")


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the table: ``run`` is awaited every ``every`` seconds, for at most ``timeout``."""

    name: str
    every: float
    timeout: float
    run: Callable[[JobContext], Awaitable[object]]

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a job needs a name")
        if not (self.every > 0 and self.timeout > 0):
            raise ValueError(f"{self.name}: every and timeout must be positive")


class JobRunner:
    """Runs jobs, each in its own task, as the module doc promises; ``start()`` then ``stop()``."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        context: JobContext,
        stop_grace_seconds: float = 5.0,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 60.0,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.jobs = tuple(jobs)
        self._metrics = metrics
        self.context = context
        self._grace = stop_grace_seconds
        self._retry = (retry_base_seconds, retry_max_seconds)
        self._stopping = context.stopping
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._loop(job), name=f"worker: {job.name}") for job in self.jobs]

    async def stop(self) -> None:
        """Start no new run; give the runs under way the grace period, then cancel them.
        Idempotent."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        try:
            _, late = await asyncio.wait(tasks, timeout=self._grace)
            for task in late:
                logger.warning("%s outlasted the %g s stop grace; cancelled", task.get_name(), self._grace)
        finally:
            # Also when stop() itself is cancelled (the app's shutdown bound): no task outlives it.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, job: Job) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                async with asyncio.timeout(job.timeout) as limit:
                    await job.run(self.context)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                timed_out = isinstance(exc, TimeoutError) and limit.expired()
                self._count(job, started, "timeout" if timed_out else "failed")
                failures += 1
                delay = backoff(failures, base=self._retry[0], cap=self._retry[1]).total_seconds()
                if isinstance(exc, TimeoutError) and limit.expired():
                    logger.error(
                        "%s overstayed its %g s timeout and was given up (its rows are handed back "
                        "or left to their leases' end); next run in %.0f s",
                        job.name,
                        job.timeout,
                        delay,
                    )
                else:
                    logger.exception("%s failed; retrying in %.0f s", job.name, delay)
            else:
                self._count(job, started, "ok")
                failures = 0
                delay = job.every
            await self._pause(delay)

    def _count(self, job: Job, started: float, result: str) -> None:
        if self._metrics is not None:
            self._metrics.job_ran(job.name, time.monotonic() - started, result)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until stop() is called, whichever is first."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass


async def data_erased(db: AsyncSession, erased: DataErased) -> None:
    """The ``data.erased`` webhook, owed in the transaction that marks the erasure done."""
    await enqueue_event(db, erased.org_id, WebhookEvent.DATA_ERASED, erased.payload())


class Worker:
    """The job table (see the module doc) and what its jobs share: the webhooks' HTTP session,
    one ``JobContext``. Jobs that need recordings storage are left out without one."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        access_log_days: int,
        storage: Storage | None = None,
        recordings: RecordingsConfig | None = None,
        webhooks: WebhookConfig | None = None,
        transcription: TranscriptionConfig | None = None,
        config: WorkerConfig | None = None,
        context: JobContext | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._sessions = sessions
        self._access_log_days = access_log_days
        self.config = config or WorkerConfig()
        self.context = context or JobContext()
        # Owns the HTTP session all deliveries share; claims as this worker.
        self._webhooks = WebhookSender(
            sessions, config=webhooks or WebhookConfig(), worker_id=self.context.worker_id
        )
        self.jobs = self._table(storage, recordings, transcription)
        self._runner = JobRunner(
            self.jobs,
            context=self.context,
            stop_grace_seconds=self.config.stop_grace_seconds,
            retry_base_seconds=self.config.retry_base_seconds,
            retry_max_seconds=self.config.retry_max_seconds,
            metrics=metrics,
        )

    def _table(
        self,
        storage: Storage | None,
        recordings: RecordingsConfig | None,
        transcription: TranscriptionConfig | None,
    ) -> list[Job]:
        sessions, config = self._sessions, self.config

        def job(name: str, schedule: Schedule, run: Callable[[JobContext], Awaitable[object]]) -> Job:
            return Job(name, every=schedule.every, timeout=schedule.timeout, run=run)

        table = [job("access-log purge", config.access_log_purge, self.purge_access_log)]
        if storage is not None and recordings is not None:
            store, rec = storage, recordings

            async def uploads(ctx: JobContext) -> int:
                # enqueue_event owes the recording.stored webhook in the "stored" transaction.
                return await retry_pending_uploads(
                    sessions, store, rec, ctx.clock(), worker_id=ctx.worker_id, on_stored=enqueue_event
                )

            async def retention(ctx: JobContext) -> int:
                return await sweep_expired(sessions, store, rec, ctx.clock(), worker_id=ctx.worker_id)

            async def privacy_requests(ctx: JobContext) -> int:
                return await process_requests(
                    sessions, store, rec, on_erased=data_erased, now=ctx.clock(), worker_id=ctx.worker_id
                )

            async def export_expiry(ctx: JobContext) -> int:
                # Also the decrypted copies (exports, playbacks) of processes that died mid-use.
                await asyncio.to_thread(remove_stale_plaintext, rec)
                # And requests that matched no call, a day after they were answered.
                await expire_unmatched(sessions, ctx.clock())
                return await expire_exports(sessions, store, ctx.clock())

            table += [
                job("recording uploads", config.uploads, uploads),
                job("retention sweep", config.retention, retention),
                job("privacy requests", config.privacy_requests, privacy_requests),
                job("export expiry", config.export_expiry, export_expiry),
            ]
            if transcription is not None:
                # The Whisper model loads on the first call to transcribe, not here.
                transcriber = TranscriptionJob(
                    sessions=sessions,
                    storage=store,
                    recordings=rec,
                    config=transcription,
                    on_ready=enqueue_event,
                    worker_id=self.context.worker_id,
                )

                async def transcribe(ctx: JobContext) -> int:
                    # One call per run(), so each transcription's time is measured on its own.
                    done = 0
                    for _ in range(TRANSCRIPTIONS_PER_PASS):
                        started = time.monotonic()
                        if not await transcriber.run(ctx.clock(), limit=1, stopping=ctx.stopping.is_set):
                            break
                        if self._metrics is not None:
                            self._metrics.transcription_seconds.observe(time.monotonic() - started)
                        done += 1
                        if ctx.stopping.is_set():
                            break
                    return done

                table.append(job("transcription", config.transcription, transcribe))

        async def call_data_retention(ctx: JobContext) -> int:
            return sum((await sweep_expired_call_data(sessions, ctx.clock())).values())

        async def webhook_delivery(ctx: JobContext) -> int:
            return await self._webhooks.run(ctx.clock())

        table += [
            job("transcript and chat retention", config.call_data_retention, call_data_retention),
            job("webhook delivery", config.webhook_delivery, webhook_delivery),
        ]
        return table

    async def start(self) -> None:
        await self._webhooks.start()
        await self._runner.start()

    async def stop(self) -> None:
        """Let the runs under way finish within the grace period, then cancel; idempotent."""
        try:
            await self._runner.stop()
        finally:
            await self._webhooks.stop()

    async def purge_access_log(self, ctx: JobContext) -> int:
        cutoff = ctx.clock() - timedelta(days=self._access_log_days)
        async with self._sessions() as db:
            purged = await purge_older_than(db, cutoff)
            await db.commit()
        if purged:
            logger.info("purged %d access-log rows older than %d days", purged, self._access_log_days)
        return purged


async def run_worker(settings: Settings) -> None:
    """``loket worker``: run until SIGTERM or SIGINT, then let the runs under way finish within
    ``LOKET_WORKER_STOP_GRACE_SECONDS`` and stop."""
    engine = create_engine(settings.database_url)
    recordings = settings.recordings()
    storage = storage_from_config(recordings)
    sessions = create_session_factory(engine, keys=settings.installation_keys())
    registry = CollectorRegistry()
    metrics = metrics_server(settings, Scraper(registry, [JobState(sessions=sessions)]))
    worker = Worker(
        sessions=sessions,
        access_log_days=settings.access_log_days,
        storage=storage,
        recordings=recordings,
        webhooks=settings.webhooks(),
        transcription=settings.transcription(),
        config=settings.worker(),
        metrics=WorkerMetrics(registry),
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if metrics is not None:
        await metrics.start()
    await worker.start()
    logger.info("worker running: %s", ", ".join(job.name for job in worker.jobs))
    try:
        await stopping.wait()
    finally:
        await worker.stop()
        if metrics is not None:
            await metrics.stop()
        await storage.stop()
        await engine.dispose()
        logger.info("worker stopped")
