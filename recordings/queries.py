"""Queries on the recordings catalogue; each takes the session first and leaves committing to the caller.

Rows are written with INSERT/UPDATE statements, never through the ORM's unit of work: a
flush would need signaling's ``calls`` table in the metadata to order the foreign key,
and this package must work (in a worker, in its tests) without importing signaling.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import new_id, utcnow
from db.jobs import claim_rows
from db.tables import CALLS
from recordings.errors import RecordingNotFound
from recordings.models import Participant, Recording, RecordingStatus

# A row the upload worker may take: waiting for upload, or held by a worker whose lease ran out.
_UPLOADABLE = (RecordingStatus.SPOOLED, RecordingStatus.UPLOADING)
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


def storage_key_for(recording_id: uuid.UUID, created_at: datetime, suffix: str = ".webm") -> str:
    """Object key of a recording: date folders, the row id, the media suffix, ``.enc``.

    Keys carry no organisation, call or visitor detail: an object listing reveals nothing.
    """
    suffix = suffix.lower() if _SUFFIX.fullmatch(suffix.lower()) else ""
    return f"{created_at:%Y/%m/%d}/{recording_id}{suffix}.enc"


async def create_recording(
    session: AsyncSession,
    *,
    call_id: uuid.UUID,
    participant: Participant | str,
    spool_path: Path,
    spool_node: str | None = None,
    delete_after: datetime | None = None,
    now: datetime | None = None,
) -> Recording:
    """A new row in status ``recording`` for media that is being written to ``spool_path``.

    ``spool_path`` is absolute, or a spool key relative to the spool directory of whoever
    uploads it; ``spool_node`` is the media node whose spool holds it (``None``: the workers')."""
    created_at = now or utcnow()
    recording_id = new_id()
    await session.execute(
        insert(Recording).values(
            id=recording_id,
            call_id=call_id,
            participant=Participant(participant).value,
            storage_key=storage_key_for(recording_id, created_at, spool_path.suffix),
            spool_path=str(spool_path),
            spool_node=spool_node,
            status=RecordingStatus.RECORDING.value,
            attempts=0,
            legal_hold=False,
            delete_after=delete_after,
            created_at=created_at,
        )
    )
    return await get_recording(session, recording_id)


async def get_recording(
    session: AsyncSession, recording_id: uuid.UUID, *, for_update: bool = False
) -> Recording:
    statement = (
        select(Recording).where(Recording.id == recording_id).execution_options(populate_existing=True)
    )
    if for_update:
        statement = statement.with_for_update()
    recording = await session.scalar(statement)
    if recording is None:
        raise RecordingNotFound(f"no recording {recording_id}")
    return recording


async def mark_spooled(
    session: AsyncSession,
    recording_id: uuid.UUID,
    *,
    duration_seconds: float | None,
    now: datetime | None = None,
) -> Recording:
    """The media file is complete: due for upload at once."""
    await session.execute(
        update(Recording)
        .where(Recording.id == recording_id, Recording.status == RecordingStatus.RECORDING.value)
        .values(
            status=RecordingStatus.SPOOLED.value,
            duration_seconds=duration_seconds,
            next_attempt_at=now or utcnow(),
        )
    )
    return await get_recording(session, recording_id)


def on_spool(spool_node: str | None) -> ColumnElement[bool]:
    """Rows whose spool file is on ``spool_node``'s disk (``None``: the workers' spool)."""
    if spool_node is None:
        return Recording.spool_node.is_(None)
    return Recording.spool_node == spool_node


def _claimable(now: datetime, recording_id: uuid.UUID | None, spool_node: str | None) -> ColumnElement[bool]:
    """Waiting for upload, or left ``uploading`` by a worker (``claim_rows`` adds: whose lease
    ran out); due now, or the one asked for by id; spooled where the caller can read it."""
    condition = and_(Recording.status.in_([s.value for s in _UPLOADABLE]), on_spool(spool_node))
    if recording_id is not None:
        # Asked for by id (the file was just finished): no need to wait for next_attempt_at.
        return and_(condition, Recording.id == recording_id)
    return and_(condition, Recording.next_attempt_at <= now)


async def claim_upload(
    session: AsyncSession,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    recording_id: uuid.UUID | None = None,
    spool_node: str | None = None,
) -> Recording | None:
    """Take the recording longest due (or ``recording_id``) for upload under a lease, in status
    ``uploading``; None if there is none. Claimed through ``db.jobs.claim_rows``, so any number
    of workers may call this at once and never take one row together. The caller commits.

    Only rows spooled on ``spool_node`` (``None``: the workers' own spool) are taken: a file
    can only be uploaded from the disk it is on."""
    rows = await claim_rows(
        session,
        Recording,
        _claimable(now, recording_id, spool_node),
        worker_id=worker_id,
        now=now,
        lease=lease,
        limit=1,
        order_by=(Recording.next_attempt_at,),
        columns=(Recording.id,),
        values={"status": RecordingStatus.UPLOADING.value},
    )
    if not rows:
        return None
    return await get_recording(session, rows[0].id)


async def leftover_spools(
    session: AsyncSession, *, limit: int = 100, spool_node: str | None = None
) -> list[Recording]:
    """Stored or shredded rows whose spool files on ``spool_node`` (``None``: the workers'
    spool) were not yet removed (a crash in between)."""
    done = [RecordingStatus.STORED.value, RecordingStatus.SHREDDED.value]
    rows = await session.scalars(
        select(Recording)
        .where(Recording.status.in_(done), Recording.spool_path.is_not(None), on_spool(spool_node))
        .order_by(Recording.created_at)
        .limit(limit)
    )
    return list(rows.all())


async def org_of(session: AsyncSession, recording_id: uuid.UUID) -> uuid.UUID | None:
    """The organisation a recording belongs to (through its call), for audit events."""
    org_id: uuid.UUID | None = await session.scalar(
        select(CALLS.c.org_id)
        .join(Recording, Recording.call_id == CALLS.c.id)
        .where(Recording.id == recording_id)
    )
    return org_id
