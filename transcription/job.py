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
the job back with its attempt; a run cancelled for overstaying its timeout hands it back too,
but keeps the attempt counted, so that a call too long for the timeout ends as failed instead of
being claimed forever. Untrusted media that cannot be decoded (or a language the model
cannot do) fails the job for good, with the reason; a passing problem (storage away) is retried
with backoff. A missing Whisper model is the worker's problem, not the job's: the job is handed
back with its attempt and this worker stops claiming, trying the model again with the capped
backoff, so that fixing ``LOKET_WHISPER_MODEL`` lets every pending job complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from db import Clock, SessionFactory, audit, default_worker_id, jobs, lease_kept, update_if_held, utcnow
from privacy import call_data_key, seal_transcript
from recordings import (
    ChecksumMismatch,
    DecryptionError,
    EventHook,
    KeyUnavailable,
    ObjectNotFound,
    Participant,
    RecordingNotFound,
    RecordingsConfig,
    Storage,
    fetch_recording,
)
from transcription import queries
from transcription.config import TranscriptionConfig
from transcription.engine import WhisperEngine
from transcription.errors import (
    DecodeFailed,
    InvalidTranscript,
    ModelUnavailable,
    NoRecordings,
    UnsupportedLanguage,
)
from transcription.formats import to_vtt, transcript_to_dict
from transcription.models import Transcript as TranscriptRow
from transcription.models import TranscriptStatus
from transcription.redaction import Redactor
from transcription.timeline import merge_timeline
from transcription.transcribe import transcribe_file
from transcription.transcript import Segment, Transcript

logger = logging.getLogger(__name__)

ACTOR = "transcription"
TRANSCRIPT_READY = "transcript.ready"
_ERROR_LENGTH = 1000
_SCRATCH_PREFIX = "loket-transcribe-"
# Held (flock) by the job using its scratch folder; the kernel lets go when the process dies.
_SCRATCH_LOCK = ".in-use"
_UNLOCKED_GRACE_SECONDS = 60.0
# Retrying these gives the same answer: the job fails for good, with the reason.
_FINAL = (
    DecodeFailed,
    UnsupportedLanguage,
    InvalidTranscript,
    NoRecordings,
    KeyUnavailable,
    DecryptionError,
    ChecksumMismatch,
    ObjectNotFound,
    RecordingNotFound,
)


@dataclasses.dataclass(frozen=True, slots=True)
class JobPolicy:
    """How the job leases, retries and where it keeps decrypted media while it works.

    ``max_attempts`` counts claims (see the module doc); the backoff after a failed attempt,
    and between tries of a missing model, doubles from ``retry_base_seconds`` up to
    ``retry_max_seconds``.

    ``scratch_dir`` None is the system's temporary directory; each job gets a private
    (0700) folder in it, removed when the job ends, whatever the outcome; the folder of a
    worker that was killed mid-job is removed by the next ``run`` in that directory.
    """

    lease_seconds: float = 300.0
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 5
    scratch_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds:
            raise ValueError("need 0 < retry_base_seconds <= retry_max_seconds")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempts: int) -> timedelta:
        return jobs.backoff(attempts, base=self.retry_base_seconds, cap=self.retry_max_seconds)


@dataclasses.dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    call_id: uuid.UUID
    language: str | None
    # Including this one: the claim counted it.
    attempts: int


def _make_scratch(root: Path | None) -> tuple[Path, int]:
    """A private (0700) folder for one job's decrypted media, and the descriptor holding its
    lock: nothing is written into it before the lock is taken. A configured root that does
    not exist yet is created (0700), as an operator would expect."""
    if root is not None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX, dir=root))
    lock = os.open(scratch / _SCRATCH_LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return scratch, lock


def _remove_scratch(scratch: Path, lock: int) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    os.close(lock)


def _remove_orphaned_scratch(root: Path | None) -> int:
    """Remove the scratch folders of jobs whose process died (killed, out of memory): their
    lock is free. Decrypted visitor media must not outlive the job that needed it."""
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*"):
        try:
            info = folder.lstat()
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            lock = os.open(folder / _SCRATCH_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            # No lock: a folder made this instant (no media yet), or one a cancelled job's
            # thread wrote into while it was being removed; only the latter is old.
            if time.time() - info.st_mtime > _UNLOCKED_GRACE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            continue  # a live job's
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)
        removed += 1
    return removed


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
        worker is stopping (the claim is given back) or the pass overstayed its timeout (the
        claim counts); without it every cancellation is a stop."""
        self._stopping = stopping or (lambda: True)
        clock = Clock.starting(now)
        orphans = await asyncio.to_thread(_remove_orphaned_scratch, self._policy.scratch_dir)
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

    async def _claim(self, now: datetime) -> _Claimed | None:
        """Give up the jobs that used up their attempts (with a receipt each), then claim one."""
        lease = timedelta(seconds=self._policy.lease_seconds)
        max_attempts = self._policy.max_attempts
        async with self._sessions() as session:
            given_up = await queries.give_up_exhausted(session, now=now, max_attempts=max_attempts)
            for job in given_up:
                await audit.record(
                    session,
                    org_id=job.org_id,
                    actor=ACTOR,
                    action="transcript.failed",
                    target=f"transcript:{job.transcript_id}",
                    details={"call_id": str(job.call_id), "error": job.error, "attempts": job.attempts},
                )
            row = await queries.claim_next(
                session, worker_id=self.worker_id, now=now, lease=lease, max_attempts=max_attempts
            )
            await session.commit()
        for job in given_up:
            logger.error(
                "transcript %s of call %s failed for good: %s", job.transcript_id, job.call_id, job.error
            )
        return _Claimed(*row) if row is not None else None

    async def _work(self, job: _Claimed, clock: Callable[[], datetime]) -> bool:
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
                result = await self._transcribe(media, job.language)
                if keeper.lost:
                    return False
                return await self._store(job, media, result, clock())
        except asyncio.CancelledError:
            # Hand the job back at once instead of when the lease runs out; a timeout keeps the
            # attempt its claim counted (see the module doc).
            if self._stopping():
                await asyncio.shield(self._release(job))
            else:
                await asyncio.shield(self._release(job, attempts=TranscriptRow.attempts, error="timed out"))
            raise
        except ModelUnavailable as exc:
            await self._model_missing(job, exc, clock())
            return False
        except Exception as exc:
            if not isinstance(exc, _FINAL):
                logger.exception("transcription of call %s failed (attempt %d)", job.call_id, job.attempts)
            await self._fail(job, org_id, exc, clock())
            return False

    async def _release(self, job: _Claimed, **values: object) -> None:
        """Hand the job back, by default giving back the attempt its claim counted: nothing
        went wrong with it. ``values`` may say otherwise (``attempts``, ``error``)."""
        handed_back = {"claimed_by": None, "lease_until": None, "attempts": TranscriptRow.attempts - 1}
        try:
            async with self._sessions() as session:
                await update_if_held(session, TranscriptRow, job.id, self.worker_id, **(handed_back | values))
                await session.commit()
        except Exception:
            logger.exception("could not release transcript %s; its lease will run out", job.id)

    async def _model_missing(self, job: _Claimed, exc: ModelUnavailable, now: datetime) -> None:
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
        await self._release(job, error=f"{exc.code}: {exc}"[:_ERROR_LENGTH])

    def _model_found(self, language: str | None) -> None:
        if self._model_failures:
            logger.info(
                "the Whisper model %s loads again after %d tries; transcription resumes",
                self._engine.model_label(language),
                self._model_failures,
            )
        self._model_failures = 0
        self._model_retry_at = None

    async def _transcribe(self, media: queries.CallMedia, language: str | None) -> Transcript:
        """Each recording on its own, shifted to call time, merged into one timeline.

        Without a call language, the first recording with speech settles it, detected among
        the queue's languages: the visitor's first, since the visitor's language is the call's
        (an adviser may greet in another); the other recordings are then heard in it."""
        scratch, lock = await asyncio.to_thread(_make_scratch, self._policy.scratch_dir)
        tracks: dict[Participant, list[Segment]] = {}
        heard_as: list[tuple[str, str]] = []
        end = 0.0
        redactor = Redactor(regions=self._config.phone_regions)
        recordings = sorted(media.recordings, key=lambda r: r.participant != Participant.VISITOR.value)
        try:
            for recording in recordings if language is None else media.recordings:
                # Decrypted visitor media: only in the private scratch folder, only while needed.
                path = scratch / f"{recording.id}.media"
                await fetch_recording(self._storage, self._recordings, recording, path)
                try:
                    heard = await transcribe_file(
                        path,
                        self._config,
                        self._engine,
                        language=language,
                        languages=media.languages,
                        redact=media.redact,
                        redactor=redactor,
                        discard=True,
                    )
                finally:
                    await asyncio.to_thread(path.unlink, missing_ok=True)
                if language is None and heard.segments:
                    language = heard.language
                # A recording starts when consent allowed it: its offset from the call's start.
                offset = max(0.0, (recording.created_at - media.started_at).total_seconds())
                tracks.setdefault(Participant(recording.participant), []).extend(
                    dataclasses.replace(segment, start=segment.start + offset, end=segment.end + offset)
                    for segment in heard.segments
                )
                heard_as.append((heard.language, heard.model))
                end = max(end, offset + heard.duration)
        finally:
            await asyncio.to_thread(_remove_scratch, scratch, lock)
        settled, model = Counter(heard_as).most_common(1)[0][0]
        return Transcript(
            language=settled,
            model=model,
            duration=end,
            segments=merge_timeline(tracks),
            redacted=media.redact,
        )

    async def _store(
        self, job: _Claimed, media: queries.CallMedia, result: Transcript, now: datetime
    ) -> bool:
        """Write the transcript, its audit event and the hook's webhook in one transaction,
        only while this worker still holds the row."""
        async with self._sessions() as session:
            # Sealed with the call's data key, as its chat is: shredding the call's key (erasure,
            # the call's retention) makes every copy of the transcript unreadable.
            data_key = await call_data_key(session, job.call_id, create=True)
            segments, vtt = seal_transcript(
                data_key, job.call_id, job.id, transcript_to_dict(result)["segments"], to_vtt(result)
            )
            held = await update_if_held(
                session,
                TranscriptRow,
                job.id,
                self.worker_id,
                status=TranscriptStatus.DONE.value,
                language=result.language,
                model=result.model,
                segments=segments,
                vtt=vtt,
                redacted=result.redacted,
                error=None,
                next_attempt_at=None,
                completed_at=now,
                claimed_by=None,
                lease_until=None,
            )
            if not held:
                await session.rollback()
                logger.warning("transcript %s was taken from this worker; its result is dropped", job.id)
                return False
            await audit.record(
                session,
                org_id=media.org_id,
                actor=ACTOR,
                action="transcript.created",
                target=f"transcript:{job.id}",
                details={
                    "call_id": str(job.call_id),
                    "recordings": len(media.recordings),
                    "segments": len(result.segments),
                    "language": result.language,
                    "model": result.model,
                    "redacted": result.redacted,
                    "duration": round(result.duration, 3),
                },
            )
            if self._on_ready is not None:
                payload = {
                    "transcript_id": str(job.id),
                    "call_id": str(job.call_id),
                    "completed_at": now.isoformat(),
                }
                await self._on_ready(session, media.org_id, TRANSCRIPT_READY, payload)
            await session.commit()
        logger.info("transcript %s of call %s done (%d segments)", job.id, job.call_id, len(result.segments))
        return True

    async def _fail(self, job: _Claimed, org_id: uuid.UUID | None, exc: Exception, now: datetime) -> None:
        """Record a failed attempt (counted when it was claimed): final with its reason, or due
        again after a backoff."""
        code = str(getattr(exc, "code", type(exc).__name__))
        reason = f"{code}: {exc}"[:_ERROR_LENGTH]
        attempts = job.attempts
        final = isinstance(exc, _FINAL) or attempts >= self._policy.max_attempts
        values: dict[str, object] = {
            "error": reason,
            "claimed_by": None,
            "lease_until": None,
        }
        if final:
            values.update(status=TranscriptStatus.FAILED.value, next_attempt_at=None, completed_at=now)
        else:
            values.update(next_attempt_at=now + self._policy.backoff(attempts))
        async with self._sessions() as session:
            held = await update_if_held(session, TranscriptRow, job.id, self.worker_id, **values)
            if held and final:
                await audit.record(
                    session,
                    org_id=org_id,
                    actor=ACTOR,
                    action="transcript.failed",
                    target=f"transcript:{job.id}",
                    details={"call_id": str(job.call_id), "error": reason, "attempts": attempts},
                )
            await session.commit()
        if held:
            logger.warning(
                "transcript %s of call %s failed%s: %s",
                job.id,
                job.call_id,
                "" if final else ", retried later",
                reason,
            )
