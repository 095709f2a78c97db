"""Queries on the transcripts table and what the transcription job reads of a call; each takes
the session first and leaves committing to the caller.

signaling's tables (calls, queues, organisations) are named here, not imported: this package
runs (in a worker, in its tests) without signaling, as recordings does. Rows are written with
INSERT/UPDATE statements, never through the ORM's unit of work, for the same reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    String,
    and_,
    cast,
    exists,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db import claim_rows, new_id
from db.tables import CALLS, ORGANISATIONS, QUEUES
from privacy import RetentionKind, calls_past_retention, current_dpa, dpa_accepted_by, retention_for_call
from recordings import Recording, RecordingStatus
from transcription.models import Transcript as TranscriptRow
from transcription.models import TranscriptStatus

# A recording in one of these may still change: the call is not ready to transcribe.
_UNFINISHED = (RecordingStatus.RECORDING, RecordingStatus.SPOOLED, RecordingStatus.UPLOADING)


@dataclass(frozen=True, slots=True)
class DueCall:
    """A call to transcribe, and the language to transcribe it in (None: detect it among the
    queue's languages)."""

    call_id: uuid.UUID
    language: str | None


@dataclass(frozen=True, slots=True)
class CallMedia:
    """What one job needs of its call: whose it is, its start, redaction, the recordings."""

    call_id: uuid.UUID
    org_id: uuid.UUID
    # Where the timeline's zero lies: when the call was answered (else when it was created).
    started_at: datetime
    redact: bool
    recordings: tuple[Recording, ...]
    # The queue's languages: a call without a language is detected among them.
    languages: tuple[str, ...] = ()


def _languages(queue_languages: object) -> tuple[str, ...]:
    if not isinstance(queue_languages, list):
        return ()
    return tuple(language for language in queue_languages if isinstance(language, str) and language)


def _language(call_language: str | None, queue_languages: object) -> str | None:
    """The call's language (the visitor's choice in the widget), else the queue's only one;
    None when the queue has several: the job detects it among them."""
    if call_language:
        return call_language
    languages = _languages(queue_languages)
    return languages[0] if len(languages) == 1 else None


async def calls_due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[DueCall]:
    """Ended calls in a queue with transcription on that have stored recordings, none still
    being recorded or uploaded, and no transcript (job) yet, of organisations that accepted the
    current DPA (``privacy.dpa``); oldest ended first.

    A call older than its transcript retention is left out: its transcript was made and swept
    (recordings may be kept longer), or would be due at once; making it again would undo the sweep.
    """
    of_call = Recording.call_id == CALLS.c.id
    expired = await calls_past_retention(session, RetentionKind.TRANSCRIPTS, now)
    # Transcription stays off for an organisation until its dpo accepted the current DPA.
    current = await current_dpa(session)
    rows = await session.execute(
        select(CALLS.c.id, CALLS.c.language, QUEUES.c.languages)
        .join(QUEUES, QUEUES.c.id == CALLS.c.queue_id)
        .where(
            QUEUES.c.transcription.is_(True),
            CALLS.c.ended_at.is_not(None),
            exists().where(of_call, Recording.status == RecordingStatus.STORED.value),
            ~exists().where(of_call, Recording.status.in_([status.value for status in _UNFINISHED])),
            ~exists().where(TranscriptRow.call_id == CALLS.c.id),
            CALLS.c.id.not_in(expired),
            dpa_accepted_by(CALLS.c.org_id, current),
        )
        .order_by(CALLS.c.ended_at)
        .limit(limit)
    )
    return [DueCall(row.id, _language(row.language, row.languages)) for row in rows]


async def create_pending(session: AsyncSession, call: DueCall, *, now: datetime) -> uuid.UUID | None:
    """The call's pending transcript (job) row with its retention deadline; None when the call
    already has one (the unique ``call_id`` decides between two workers enqueueing at once)."""
    retention = await retention_for_call(session, call.call_id, RetentionKind.TRANSCRIPTS)
    values = {
        "id": new_id(),
        "call_id": call.call_id,
        "status": TranscriptStatus.PENDING.value,
        "language": call.language,
        "redacted": False,
        "attempts": 0,
        "next_attempt_at": now,
        "legal_hold": False,
        "delete_after": retention.deadline(now),
        "created_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created: uuid.UUID | None = await session.scalar(
        dialect.insert(TranscriptRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["call_id"])
        .returning(TranscriptRow.id)
    )
    return created


async def claim_next(
    session: AsyncSession, *, worker_id: str, now: datetime, lease: timedelta, max_attempts: int
) -> tuple[uuid.UUID, uuid.UUID, str | None, int] | None:
    """Lease one due pending transcript with attempts left to ``worker_id``, counting the claim
    as an attempt: (id, call id, language, attempts including this one).

    Counted here, not when the attempt fails: a job whose work kills the worker process (out
    of memory, a crash in Whisper) writes nothing after its claim, and must still run out of
    attempts instead of taking down every worker that claims it (``give_up_exhausted``).
    """
    due = and_(
        TranscriptRow.status == TranscriptStatus.PENDING.value,
        or_(TranscriptRow.next_attempt_at.is_(None), TranscriptRow.next_attempt_at <= now),
        TranscriptRow.attempts < max_attempts,
    )
    rows = await claim_rows(
        session,
        TranscriptRow,
        due,
        worker_id=worker_id,
        now=now,
        lease=lease,
        limit=1,
        order_by=(TranscriptRow.next_attempt_at, TranscriptRow.created_at),
        columns=(TranscriptRow.id, TranscriptRow.call_id, TranscriptRow.language, TranscriptRow.attempts),
        values={"attempts": TranscriptRow.attempts + 1},
    )
    if not rows:
        return None
    row = rows[0]
    return row.id, row.call_id, row.language, row.attempts


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A pending transcript failed by ``give_up_exhausted``, with what its receipt needs."""

    transcript_id: uuid.UUID
    call_id: uuid.UUID
    org_id: uuid.UUID | None
    attempts: int
    error: str


async def give_up_exhausted(session: AsyncSession, *, now: datetime, max_attempts: int) -> list[GivenUp]:
    """Fail the pending transcripts that used up their attempts without an outcome: every one
    of their claims ended with the worker gone (a failure, or a stop, writes its outcome or
    gives the attempt back), so another claim would most likely take down one more worker.
    Only rows whose lease is free: a live worker's last attempt is left to finish."""
    error = (
        literal("gave_up: the worker stopped ", String)
        + cast(TranscriptRow.attempts, String)
        + literal(" times while transcribing", String)
    )
    rows = (
        await session.execute(
            update(TranscriptRow)
            .where(
                TranscriptRow.status == TranscriptStatus.PENDING.value,
                TranscriptRow.attempts >= max_attempts,
                # As recordings.claim_rows: nobody holds it, or its holder's lease ran out.
                or_(TranscriptRow.lease_until.is_(None), TranscriptRow.lease_until < now),
            )
            .values(
                status=TranscriptStatus.FAILED.value,
                error=error,
                next_attempt_at=None,
                completed_at=now,
                claimed_by=None,
                lease_until=None,
            )
            .returning(TranscriptRow.id, TranscriptRow.call_id, TranscriptRow.attempts, TranscriptRow.error)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        return []
    orgs = dict(
        (
            await session.execute(
                select(CALLS.c.id, CALLS.c.org_id).where(CALLS.c.id.in_([row.call_id for row in rows]))
            )
        ).all()
    )
    return [GivenUp(row.id, row.call_id, orgs.get(row.call_id), row.attempts, row.error) for row in rows]


async def call_media(session: AsyncSession, call_id: uuid.UUID) -> CallMedia | None:
    """The call and its stored recordings (oldest first); None when the call is gone."""
    call = (
        await session.execute(
            select(
                CALLS.c.org_id,
                CALLS.c.created_at,
                CALLS.c.accepted_at,
                ORGANISATIONS.c.redact_transcripts,
                QUEUES.c.languages,
            )
            .join(ORGANISATIONS, ORGANISATIONS.c.id == CALLS.c.org_id)
            .outerjoin(QUEUES, QUEUES.c.id == CALLS.c.queue_id)
            .where(CALLS.c.id == call_id)
        )
    ).first()
    if call is None:
        return None
    recordings: Sequence[Recording] = (
        await session.scalars(
            select(Recording)
            .where(Recording.call_id == call_id, Recording.status == RecordingStatus.STORED.value)
            .order_by(Recording.created_at, Recording.participant)
        )
    ).all()
    return CallMedia(
        call_id=call_id,
        org_id=call.org_id,
        started_at=call.accepted_at or call.created_at,
        # Redaction is on unless the organisation turned it off (NULL cannot happen; be safe).
        redact=call.redact_transcripts is not False,
        recordings=tuple(recordings),
        languages=_languages(call.languages),
    )


async def get_transcript(session: AsyncSession, transcript_id: uuid.UUID) -> TranscriptRow | None:
    found: TranscriptRow | None = await session.scalar(
        select(TranscriptRow)
        .where(TranscriptRow.id == transcript_id)
        .execution_options(populate_existing=True)
    )
    return found


async def set_legal_hold(session: AsyncSession, transcript_id: uuid.UUID, hold: bool) -> bool:
    """Put a transcript on legal hold (retention and erasure leave it alone) or release it;
    False when it already was as asked, so that the caller audits only a change."""
    changed = await session.execute(
        update(TranscriptRow)
        .where(TranscriptRow.id == transcript_id, TranscriptRow.legal_hold != hold)
        .values(legal_hold=hold)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(changed, "rowcount", 0))
