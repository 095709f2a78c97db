"""The transcription job: calls become speaker-labelled transcripts, one leased row at a time.

A job is a row (docs/architecture.md, "Worker"): ``enqueue`` gives every ended call whose queue
has transcription on, and whose recordings are all stored, one pending ``transcripts`` row (the
unique ``call_id`` makes that idempotent, also between workers). ``run`` then claims pending rows
under a lease (``db.jobs.claim_rows``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), renews the
lease while it works (``db.jobs.lease_kept``), and for each participant's recording: fetches and
decrypts it into a private scratch directory, decodes it in the sandboxed subprocess, recognises
it with the Whisper engine (in a thread: the event loop stays free) and redacts it when the
organisation wants that; the tracks are merged into one "Visitor"/"Adviser" timeline and stored
as JSON segments and WebVTT, with the language and the model that heard it. The language is the
call's (the visitor's choice in the widget), else the queue's when it has one; a queue with
several has it detected from the visitor's first 30 s of speech, among the queue's languages.

Exactly once: the result is written only while this worker still holds the row, in one
transaction with its audit event and the ``transcript.ready`` hook. A worker that dies leaves
its lease, which runs out; the next worker starts the job again from the recordings.

Attempts: every claim counts as one, so that a job whose work kills the worker process (out of
memory, a crash in Whisper) still runs out of them; after ``max_attempts`` claims without an
outcome it is failed ("gave_up") instead of being claimed again. A clean stop (SIGTERM) hands
the job back with its attempt; a run cancelled for overstaying its timeout is a failed attempt
like any other (``TimedOut``: retried after the backoff, failed with the last attempt), so that a
call too long for the timeout ends as failed instead of being claimed forever. Untrusted media
that cannot be decoded (or a language the model cannot do) fails the job for good, with the
reason; a passing problem (storage away) is retried with backoff. A missing Whisper model is
the worker's problem, not the job's: the job is handed back with its attempt and this worker
stops claiming, trying the model again with the capped backoff, so that fixing
``LOKET_WHISPER_MODEL`` lets every pending job complete.

Where each step lives: ``claims`` (claiming, handing back, failing an attempt; ``JobPolicy``),
``call_transcription`` (hearing one call), ``storing`` (writing the result), ``scratch`` (the
private folders for decrypted media).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from db import Clock, SessionFactory, default_worker_id, lease_kept, utcnow
from recordings import EventHook, RecordingsConfig, Storage
from transcription import queries
from transcription.call_transcription import transcribe_call
from transcription.claims import ERROR_LENGTH, FINAL, Claimed, JobPolicy, claim, fail, release
from transcription.config import TranscriptionConfig
from transcription.engine import WhisperEngine
from transcription.errors import ModelUnavailable, NoRecordings, TimedOut
from transcription.models import Transcript as TranscriptRow
from transcription.scratch import remove_orphaned_scratch
from transcription.storing import store_transcript

logger = logging.getLogger(__name__)


class TranscriptionJob:
    """Enqueues and runs transcriptions; any number may run side by side (see the module doc)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        storage: Storage,
        recordings: RecordingsConfig,
        config: TranscriptionConfig,
        engine: WhisperEngine | None = None,
        on_ready: EventHook | None = None,
        policy: JobPolicy | None = None,
        worker_id: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._recordings = recordings
        self._config = config
        self._engine = engine or WhisperEngine(config)
        self._on_ready = on_ready
        self._policy = policy or JobPolicy()
        self.worker_id = worker_id or default_worker_id()
        # The model could not be loaded this many times in a row; no claims before ``_model_retry_at``.
        self._model_failures = 0
        self._model_retry_at: datetime | None = None
        self._stopping: Callable[[], bool] = lambda: True

    async def run(
        self, now: datetime | None = None, *, limit: int = 10, stopping: Callable[[], bool] | None = None
    ) -> int:
        """One pass: enqueue what is ready, then transcribe up to ``limit`` calls, one at a time
        (each already uses ``config.cpu_threads``; run more workers for more). Returns how many
        transcripts it completed. ``stopping`` tells, when the pass is cancelled, whether the
        worker is stopping (the claim is given back) or the pass overstayed its timeout (a
        failed attempt); without it every cancellation is a stop."""
        self._stopping = stopping or (lambda: True)
        clock = Clock.starting(now)
        orphans = await asyncio.to_thread(remove_orphaned_scratch, self._policy.scratch_dir)
        if orphans:
            logger.warning("removed %d scratch folders left by transcription workers that died", orphans)
        await self.enqueue(clock())
        done = 0
        for _ in range(limit):
            if self._model_retry_at is not None and clock() < self._model_retry_at:
                break  # the model is missing: claiming would only hand the job back
            claimed = await self._claim(clock())
            if claimed is None:
                break
            if await self._work(claimed, clock):
                done += 1
        return done

    async def enqueue(self, now: datetime | None = None) -> int:
        """A pending transcript row for every call that is ready; returns how many were new."""
        at = now or utcnow()
        async with self._sessions() as session:
            due = await queries.calls_due(session, now=at)
            created = [await queries.create_pending(session, call, now=at) for call in due]
            await session.commit()
        return sum(1 for transcript_id in created if transcript_id is not None)

    async def _claim(self, now: datetime) -> Claimed | None:
        return await claim(self._sessions, self.worker_id, self._policy, now)

    async def _work(self, job: Claimed, clock: Callable[[], datetime]) -> bool:
        """Transcribe one claimed call; True when this worker stored its transcript."""
        org_id: uuid.UUID | None = None
        try:
            async with lease_kept(
                self._sessions,
                TranscriptRow,
                job.id,
                self.worker_id,
                lease_seconds=self._policy.lease_seconds,
                clock=clock,
            ) as keeper:
                # The model first: without it nothing is worth fetching or decrypting.
                await self._engine.resolve_language(job.language)
                self._model_found(job.language)
                async with self._sessions() as session:
                    media = await queries.call_media(session, job.call_id)
                if media is None or not media.recordings:
                    raise NoRecordings(f"call {job.call_id} has no stored recording left")
                org_id = media.org_id
                result = await transcribe_call(
                    media,
                    job.language,
                    storage=self._storage,
                    recordings=self._recordings,
                    config=self._config,
                    engine=self._engine,
                    scratch_dir=self._policy.scratch_dir,
                )
                if keeper.lost:
                    return False
                return await store_transcript(
                    self._sessions, self.worker_id, job, media, result, clock(), on_ready=self._on_ready
                )
        except asyncio.CancelledError:
            # Hand the job back at once instead of when the lease runs out; a timeout is a
            # failed attempt (see the module doc).
            if self._stopping():
                await asyncio.shield(release(self._sessions, self.worker_id, job))
            else:
                timed_out = TimedOut("the run overstayed the worker's transcription timeout")
                await asyncio.shield(
                    fail(self._sessions, self.worker_id, self._policy, job, org_id, timed_out, clock())
                )
            raise
        except ModelUnavailable as exc:
            await self._model_missing(job, exc, clock())
            return False
        except Exception as exc:
            if not isinstance(exc, FINAL):
                logger.exception("transcription of call %s failed (attempt %d)", job.call_id, job.attempts)
            await fail(self._sessions, self.worker_id, self._policy, job, org_id, exc, clock())
            return False

    async def _model_missing(self, job: Claimed, exc: ModelUnavailable, now: datetime) -> None:
        """The model cannot be loaded (``LOKET_WHISPER_MODEL`` names none there is): hand the job
        back without using up an attempt, and claim nothing until the capped backoff has passed.
        Said once, loudly, until the model loads again; every job would fail the same way."""
        self._model_failures += 1
        delay = self._policy.backoff(self._model_failures)
        self._model_retry_at = now + delay
        if self._model_failures == 1:
            logger.error(
                "transcription paused: %s; pending transcripts wait without using up attempts, and "
                "the model is tried again in %.0f s, then with backoff up to every %.0f s "
                "(check LOKET_WHISPER_MODEL)",
                exc,
                delay.total_seconds(),
                self._policy.retry_max_seconds,
            )
        else:
            logger.debug("the Whisper model is still unavailable (%d tries): %s", self._model_failures, exc)
        await release(self._sessions, self.worker_id, job, error=f"{exc.code}: {exc}"[:ERROR_LENGTH])

    def _model_found(self, language: str | None) -> None:
        if self._model_failures:
            logger.info(
                "the Whisper model %s loads again after %d tries; transcription resumes",
                self._engine.model_label(language),
                self._model_failures,
            )
        self._model_failures = 0
        self._model_retry_at = None
