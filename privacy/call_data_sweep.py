"""The sweep of expired transcripts and chat messages, with a deletion receipt per row.

These rows have no copies outside the database (a transcript's JSON and WebVTT live in its
row), so no lease is needed: each batch is one transaction that deletes the rows still due
(``DELETE ... WHERE delete_after <= now AND not on hold RETURNING``) and appends a receipt for
each row it got back. Of two workers deleting the same row only one gets it back, so there is
exactly one receipt per row; a rule that moved a deadline later, or a legal hold set, after
the rows were selected saves them, because the delete checks again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, utcnow
from db.tables import CALLS
from privacy.call_data import CALL_DATA, CallData
from privacy.models import RetentionKind
from privacy.retention import (
    DEFAULT_RETENTION_DAYS,
    SWEEP_ACTOR,
    Retention,
    _append_receipts,
    _Receipt,
    _rules_of,
    resolve_retention,
)

logger = logging.getLogger(__name__)

_MAX_BATCH = 1000


async def _why(
    session: AsyncSession, kind: RetentionKind, call_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID | None, Retention]]:
    """Per call: its organisation and the retention of ``kind`` that applies to it."""
    calls = (
        await session.execute(
            select(CALLS.c.id, CALLS.c.org_id, CALLS.c.queue_id).where(CALLS.c.id.in_(list(call_ids)))
        )
    ).all()
    rules = await _rules_of(session, {call.org_id for call in calls}, kind)
    why: dict[uuid.UUID, tuple[uuid.UUID | None, Retention]] = {
        call_id: (None, Retention(kind, DEFAULT_RETENTION_DAYS[kind])) for call_id in call_ids
    }
    for call in calls:
        why[call.id] = (call.org_id, resolve_retention(rules[call.org_id], kind, call.queue_id))
    return why


async def _sweep_batch(session: AsyncSession, data: CallData, now: datetime, batch: int) -> tuple[int, int]:
    """Delete up to ``batch`` due rows of one kind with their receipts; (selected, deleted)."""
    rows = data.table
    due = and_(rows.c.delete_after <= now, data.not_held())
    candidates = list(await session.scalars(select(rows.c.id).where(due).limit(batch)))
    if not candidates:
        return 0, 0
    gone = (
        await session.execute(
            delete(rows)
            .where(rows.c.id.in_(candidates), due)
            .returning(rows.c.id, rows.c.call_id, rows.c.created_at, rows.c.delete_after)
        )
    ).all()
    why = await _why(session, data.kind, {row.call_id for row in gone})
    receipts = []
    for row in gone:
        org_id, retention = why[row.call_id]
        details: dict[str, Any] = {
            "reason": "retention",
            f"{data.noun}_id": str(row.id),
            "call_id": str(row.call_id),
            "created_at": row.created_at.isoformat(),
            "delete_after": row.delete_after.isoformat(),
            "retention": retention.why(),
        }
        receipts.append(
            _Receipt(org_id, SWEEP_ACTOR, f"{data.noun}.deleted", f"{data.noun}:{row.id}", details)
        )
    await _append_receipts(session, receipts)
    return len(candidates), len(gone)


async def sweep_expired_call_data(
    sessions: SessionFactory, now: datetime | None = None, *, batch: int = _MAX_BATCH
) -> dict[RetentionKind, int]:
    """Delete every transcript and chat message past its deadline (transcripts on legal hold
    stay), a receipt each; returns how many of each kind went. Safe in any number of workers."""
    if not 1 <= batch <= _MAX_BATCH:
        raise ValueError(f"batch is 1 to {_MAX_BATCH}")
    now = now or utcnow()
    deleted: dict[RetentionKind, int] = {}
    for kind, data in CALL_DATA.items():
        deleted[kind] = 0
        while True:  # in batches, each its own transaction
            async with sessions() as session:
                selected, gone = await _sweep_batch(session, data, now, batch)
                await session.commit()
            deleted[kind] += gone
            if selected < batch:
                break
    if any(deleted.values()):
        logger.info(
            "retention: deleted %d transcripts and %d chat messages",
            deleted[RetentionKind.TRANSCRIPTS],
            deleted[RetentionKind.CHAT],
        )
    return deleted
