"""Erasure of one call (``erase_call_data``): what a privacy request or a DPO's erasure does.

1. Refused with ``LegalHold``, nothing deleted, while a recording or the transcript of the call
   is on legal hold (``refuse_if_held``: the one check an erasure makes);
2. the call's recordings are claimed under a lease and purged in batches as the sweep purges
   them (``privacy.purge``: shredded, every stored copy, the rows with a receipt each); a
   recording another worker holds (an upload, a sweep) is waited for, never taken;
3. the call row goes (its consents, chat messages and transcript with it, ``ON DELETE
   CASCADE``) with the visitor's access-log rows, in one transaction with the call's receipt;
   a hold put on the transcript meanwhile keeps the call.

Every step is idempotent, so a crash anywhere is mended by running the erasure again; the
result says whether it is complete.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory
from db.access_log import AccessLogEntry
from db.jobs import Clock, default_worker_id
from db.tables import CALLS
from privacy.attachments import count_for_call
from privacy.call_data import CALL_DATA
from privacy.models import RetentionKind
from privacy.purge import DEFAULT_LEASE_SECONDS, MAX_BATCH, _claim, _Purge, _purge
from privacy.sweep import _delete_calls
from recordings.errors import LegalHold
from recordings.models import Recording
from recordings.storage import Storage


@dataclass(frozen=True, slots=True)
class CallErasure:
    """What ``erase_call_data`` did. ``complete`` is False while another worker still holds
    some of the call's recordings (an upload or a sweep in progress): run it again later."""

    recordings: int
    call_deleted: bool
    access_log_rows: int
    complete: bool


async def refuse_if_held(session: AsyncSession, call_id: uuid.UUID) -> None:
    """Raise ``LegalHold`` when a recording or the transcript of the call is on legal hold: the
    one check an erasure of the call makes (privacy requests go through ``erase_call_data``).
    The transcripts table is transcription's, named in ``call_data``; chat has no hold."""
    transcripts = CALL_DATA[RetentionKind.TRANSCRIPTS].table
    recordings = await session.scalar(
        select(func.count()).where(Recording.call_id == call_id, Recording.legal_hold.is_(True))
    )
    transcript = await session.scalar(
        select(func.count()).where(transcripts.c.call_id == call_id, transcripts.c.legal_hold.is_(True))
    )
    held = [
        *([f"{recordings} recording(s)"] if recordings else []),
        *(["the transcript"] if transcript else []),
    ]
    if held:
        raise LegalHold(f"{' and '.join(held)} of call {call_id} under legal hold")


async def erase_call_data(
    sessions: SessionFactory,
    storage: Storage,
    call_id: uuid.UUID,
    reason: str,
    *,
    actor: str = "privacy",
    spool_dir: Path | None = None,
    worker_id: str | None = None,
    now: datetime | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> CallErasure:
    """Delete everything stored of one call: its recordings (shredded, every copy, the rows),
    then the call row (consents cascade) and its visitor's access-log rows; a receipt each.

    Raises ``LegalHold`` (nothing deleted) if a recording or the transcript of the call is on
    legal hold (``refuse_if_held``: erasure asks nowhere else); a hold put on the transcript
    while the recordings are being erased still keeps the call and its transcript. Idempotent:
    run again after a crash or an incomplete result, it finishes the job.
    """
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    async with sessions() as session:
        await refuse_if_held(session, call_id)
    recordings = 0
    while True:
        at = clock()
        claimed = await _claim(
            sessions,
            Recording.call_id == call_id,
            worker_id=worker_id,
            now=at,
            lease=timedelta(seconds=lease_seconds),
            limit=MAX_BATCH,
        )
        if not claimed:
            break
        job = _Purge(actor, reason, worker_id, at, spool_dir, only_due=False, list_every_version=True)
        purged = await _purge(sessions, storage, claimed, job)
        recordings += purged
        if purged < len(claimed):
            break  # a copy could not be deleted: the rest waits for the lease to run out
    async with sessions() as session:
        visitor_id = await session.scalar(select(CALLS.c.visitor_id).where(CALLS.c.id == call_id))
        if visitor_id is None:
            return CallErasure(recordings, call_deleted=False, access_log_rows=0, complete=True)
        access_log = await session.execute(
            delete(AccessLogEntry).where(AccessLogEntry.visitor_id == visitor_id)
        )
        access_log_rows = int(access_log.rowcount)  # type: ignore[attr-defined]
        # The call's photos go with its row (ON DELETE CASCADE); the receipt counts them.
        attachments = await count_for_call(session, call_id)
        gone = await _delete_calls(
            session,
            select(CALLS.c.id).where(CALLS.c.id == call_id),
            actor=actor,
            details={
                "reason": reason,
                "access_log_rows": access_log_rows,
                "recordings": recordings,
                "attachments": attachments,
            },
            # A hold put on the transcript since the check above: the transcript would go
            # with the call (ON DELETE CASCADE).
            unless_held=True,
        )
        if not gone:
            # Some recording is still held by another worker, or a hold came meanwhile: keep
            # the call (and its log rows).
            await session.rollback()
            await refuse_if_held(session, call_id)
            return CallErasure(recordings, call_deleted=False, access_log_rows=0, complete=False)
        await session.commit()
    return CallErasure(recordings, call_deleted=True, access_log_rows=access_log_rows, complete=True)
