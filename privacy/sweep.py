"""The retention sweep (``sweep_expired``), a job on rows (docs/architecture.md, "Worker").

First the recordings past their deadline: claimed under a lease in batches and purged
(``privacy.purge``: shred, every stored copy, then the rows with their receipts), so that any
number of workers can sweep at once and a worker that dies mid-batch is finished after by
another, once. Recordings on legal hold are never claimed. Within one sweep, ``lanes`` batches
are in flight at once on PostgreSQL (one on SQLite, which has one writer): the time goes into
the storage's deletes, so while one batch waits on S3 the next is claimed and shredded and
another's receipts are written. A lane is a claim loop like a second worker's under the same
worker id, so a sweep killed mid-way leaves at most ``lanes`` batches claimed, finished by the
next sweep once their lease runs out.

Then the call metadata past its rule (``sweep_expired_calls``): calls older than their
call-metadata retention that have no recording left and no transcript on legal hold (a
transcript goes with its call, ``ON DELETE CASCADE``). Each batch is one transaction: a
conditional ``DELETE ... RETURNING`` (of two workers deleting the same call, one gets the row)
and a receipt for each call it got back, so there is exactly one receipt per call. Transcripts
and chat messages have a sweep of their own (``call_data_sweep``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, utcnow
from db.jobs import Clock, default_worker_id
from db.tables import CALLS, CONSENTS
from privacy.call_data import CALL_DATA
from privacy.models import RetentionKind
from privacy.purge import DEFAULT_LEASE_SECONDS, MAX_BATCH, _claim, _Purge, _purge
from privacy.retention import _expired_call_groups
from recordings.config import RecordingsConfig
from recordings.models import Recording
from recordings.storage import Storage

logger = logging.getLogger(__name__)

SWEEP_ACTOR = "retention"
# Batches of one sweep in flight at once (PostgreSQL): enough to keep the object store busy
# while the database work of the other batches runs (bench.retention).
SWEEP_LANES = 4


async def sweep_expired(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    now: datetime | None = None,
    *,
    worker_id: str | None = None,
    batch: int = 1000,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    lanes: int | None = None,
) -> int:
    """One retention pass: every recording past its deadline, then expired call metadata.

    Returns how many recordings and calls it deleted. Safe to run in any number of workers at
    once; recordings on legal hold are never touched. ``now`` is for tests (a later "now").
    ``lanes``: batches in flight at once (default ``SWEEP_LANES`` on PostgreSQL, 1 on SQLite).
    """
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch is 1 to {MAX_BATCH}")
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    lease = timedelta(seconds=lease_seconds)
    if lanes is None:
        async with sessions() as session:
            lanes = SWEEP_LANES if session.get_bind().dialect.name == "postgresql" else 1
    deleted, seen = 0, set[uuid.UUID]()

    async def lane() -> None:
        nonlocal deleted
        while True:
            at = clock()
            claimed = await _claim(
                sessions, Recording.delete_after <= at, worker_id=worker_id, now=at, lease=lease, limit=batch
            )
            # Rows seen before are ones this sweep released (a spool file still on a media
            # node): the next sweep's, not this one's again.
            if not claimed or seen.issuperset(row.id for row in claimed):
                return
            seen.update(row.id for row in claimed)
            job = _Purge(SWEEP_ACTOR, "retention", worker_id, at, config.spool_dir, only_due=True)
            purged = await _purge(sessions, storage, claimed, job)
            deleted += purged  # after the await: ``deleted += await ...`` would lose a lane's count

    running = [asyncio.create_task(lane()) for _ in range(max(1, lanes))]
    try:
        await asyncio.gather(*running)
    finally:
        # One lane failing stops the others (their batches stay claimed, as a crash leaves
        # them); its own error is raised, as a single sweep's would be.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    calls = await sweep_expired_calls(sessions, clock(), batch=batch)
    if deleted or calls:
        logger.info("retention: deleted %d recordings and %d expired calls", deleted, calls)
    return deleted + calls


# -- call metadata ----------------------------------------------------------------------------


def _no_recordings() -> ColumnElement[bool]:
    return ~exists().where(Recording.call_id == CALLS.c.id)


def _no_held_transcript() -> ColumnElement[bool]:
    """No transcript of the call is on legal hold: it would go with the call (ON DELETE CASCADE)."""
    transcripts = CALL_DATA[RetentionKind.TRANSCRIPTS].table
    return ~exists().where(transcripts.c.call_id == CALLS.c.id, transcripts.c.legal_hold.is_(True))


async def _delete_calls(
    session: AsyncSession,
    which: Select[Any],
    *,
    actor: str,
    details: dict[str, Any],
    unless_held: bool = False,
) -> list[uuid.UUID]:
    """Delete the calls ``which`` selects that have no recording left (and, ``unless_held``, no
    transcript on legal hold), with a receipt each."""
    candidates = [row.id for row in await session.execute(which)]
    if not candidates:
        return []
    consents: dict[uuid.UUID, int] = {
        call_id: count
        for call_id, count in await session.execute(
            select(CONSENTS.c.call_id, func.count())
            .where(CONSENTS.c.call_id.in_(candidates))
            .group_by(CONSENTS.c.call_id)
        )
    }
    # Conditional and RETURNING: of two workers deleting the same call, one gets the row.
    gone = (
        await session.execute(
            delete(CALLS)
            .where(
                CALLS.c.id.in_(candidates),
                _no_recordings(),
                _no_held_transcript() if unless_held else true(),
            )
            .returning(CALLS.c.id, CALLS.c.org_id, CALLS.c.created_at)
        )
    ).all()
    receipts = [
        audit.Entry(
            actor,
            "call.deleted",
            f"call:{row.id}",
            row.org_id,
            {
                "call_id": str(row.id),
                "created_at": row.created_at.isoformat(),
                "consents": consents.get(row.id, 0),
                **details,
            },
        )
        for row in gone
    ]
    await audit.record_many(session, receipts)
    return [row.id for row in gone]


async def sweep_expired_calls(
    sessions: SessionFactory, now: datetime | None = None, *, batch: int = 1000
) -> int:
    """Delete calls past their call-metadata retention that have no recordings left and no
    transcript on legal hold (their consents go with them), with a receipt each; returns how many."""
    now = now or utcnow()
    async with sessions() as session:
        groups = await _expired_call_groups(session, now)
    deleted = 0
    for which, retention in groups:
        why = retention.why()
        while True:  # in batches, each its own transaction
            async with sessions() as session:
                gone = await _delete_calls(
                    session,
                    select(CALLS.c.id).where(which, _no_recordings(), _no_held_transcript()).limit(batch),
                    actor=SWEEP_ACTOR,
                    details={"reason": "retention", "retention": why},
                    unless_held=True,
                )
                await session.commit()
            deleted += len(gone)
            if len(gone) < batch:
                break
    return deleted
