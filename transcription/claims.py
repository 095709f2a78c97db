"""Claiming a transcription job, handing it back, and recording a failed attempt.

A job is a ``transcripts`` row under a lease (``db.jobs``). Every claim counts as an attempt;
``claim`` first fails the rows whose attempts ran out without an outcome (their worker died),
with a receipt each. ``release`` hands a row back (giving back its attempt unless told
otherwise); ``fail`` records a failed attempt: final with its reason, or due again after the
policy's backoff. Each writes only while this worker still holds the row.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from db import SessionFactory, audit, jobs, update_if_held
from recordings import (
    ChecksumMismatch,
    DecryptionError,
    KeyUnavailable,
    ObjectNotFound,
    RecordingNotFound,
)
from transcription import queries
from transcription.errors import DecodeFailed, InvalidTranscript, NoRecordings, UnsupportedLanguage
from transcription.models import Transcript as TranscriptRow
from transcription.models import TranscriptStatus

logger = logging.getLogger(__name__)

ACTOR = "transcription"
ERROR_LENGTH = 1000
# Retrying these gives the same answer: the job fails for good, with the reason.
FINAL = (
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

    ``max_attempts`` counts claims (see ``transcription.job``); the backoff after a failed
    attempt, and between tries of a missing model, doubles from ``retry_base_seconds`` up to
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
class Claimed:
    """A job this worker holds."""

    id: uuid.UUID
    call_id: uuid.UUID
    language: str | None
    # Including this one: the claim counted it.
    attempts: int


async def claim(sessions: SessionFactory, worker_id: str, policy: JobPolicy, now: datetime) -> Claimed | None:
    """Give up the jobs that used up their attempts (with a receipt each), then claim one."""
    lease = timedelta(seconds=policy.lease_seconds)
    async with sessions() as session:
        given_up = await queries.give_up_exhausted(session, now=now, max_attempts=policy.max_attempts)
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
            session, worker_id=worker_id, now=now, lease=lease, max_attempts=policy.max_attempts
        )
        await session.commit()
    for job in given_up:
        logger.error(
            "transcript %s of call %s failed for good: %s", job.transcript_id, job.call_id, job.error
        )
    return Claimed(*row) if row is not None else None


async def release(sessions: SessionFactory, worker_id: str, job: Claimed, **values: object) -> None:
    """Hand the job back, by default giving back the attempt its claim counted: nothing
    went wrong with it. ``values`` may say otherwise (``error``)."""
    handed_back = {"claimed_by": None, "lease_until": None, "attempts": TranscriptRow.attempts - 1}
    try:
        async with sessions() as session:
            await update_if_held(session, TranscriptRow, job.id, worker_id, **(handed_back | values))
            await session.commit()
    except Exception:
        logger.exception("could not release transcript %s; its lease will run out", job.id)


async def fail(
    sessions: SessionFactory,
    worker_id: str,
    policy: JobPolicy,
    job: Claimed,
    org_id: uuid.UUID | None,
    exc: Exception,
    now: datetime,
) -> None:
    """Record a failed attempt (counted when it was claimed): final with its reason, or due
    again after a backoff."""
    code = str(getattr(exc, "code", type(exc).__name__))
    reason = f"{code}: {exc}"[:ERROR_LENGTH]
    attempts = job.attempts
    final = isinstance(exc, FINAL) or attempts >= policy.max_attempts
    values: dict[str, object] = {
        "error": reason,
        "claimed_by": None,
        "lease_until": None,
    }
    if final:
        values.update(status=TranscriptStatus.FAILED.value, next_attempt_at=None, completed_at=now)
    else:
        values.update(next_attempt_at=now + policy.backoff(attempts))
    async with sessions() as session:
        held = await update_if_held(session, TranscriptRow, job.id, worker_id, **values)
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
