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
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, utcnow
from privacy.call_data import CALL_DATA, CallData
from privacy.models import RetentionKind
from privacy.retention import _why
from privacy.sweep import SWEEP_ACTOR

logger = logging.getLogger(__name__)

_MAX_BATCH = 1000


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
            audit.Entry(SWEEP_ACTOR, f"{data.noun}.deleted", f"{data.noun}:{row.id}", org_id, details)
        )
    await audit.record_many(session, receipts)
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
