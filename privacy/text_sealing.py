"""Sealing the call text an older version stored in clear (``loket privacy seal-text``).

Chat lines and transcripts are sealed with their call's data key when they are written
(``privacy.call_keys``). Rows written before that, or by a session without the installation
keys, hold their text in clear, so crypto-shredding would not cover them. A migration cannot
seal them (it has no master key), so an upgraded installation runs ``loket privacy seal-text``
once after ``loket db upgrade``; readers open both forms meanwhile, so nothing breaks before.

It walks each table once in id order, in batches of one transaction each; a row already sealed
is never selected, so it can be stopped and run again, and run while Loket serves (a row changed
meanwhile is left as it is, for the next run). A transcript counts as sealed when its ``vtt`` is
(both columns are sealed together). A row whose call has a data key no configured master key
unwraps (wrapped under another master key) is skipped and counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, TableClause, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit
from db.keys import require_keys
from db.tables import CHAT_MESSAGES, TRANSCRIPTS
from privacy.call_keys import (
    call_data_key,
    open_segments,
    open_text,
    seal_text,
    seal_transcript,
    stored_in_clear,
)
from recordings.errors import DecryptionError, KeyUnavailable

BATCH = 200


@dataclass(frozen=True, slots=True)
class SealedText:
    """How many rows ``seal_plaintext`` sealed, and skipped (their call's key did not unwrap)."""

    chat_messages: int
    transcripts: int
    skipped: int = 0


@dataclass(slots=True)
class _Batch:
    last_id: uuid.UUID | None = None
    sealed: int = 0
    skipped: int = 0
    selected: int = 0


# The new column values of one row in clear, sealed with its call's data key.
_RowSealer = Callable[[bytes, Row[Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Step:
    """One table to seal: the column that tells a sealed row, the columns the sealer reads."""

    name: str
    table: TableClause
    marker: str
    columns: tuple[str, ...]
    seal: _RowSealer


def _seal_chat_line(key: bytes, row: Row[Any]) -> dict[str, Any]:
    text = open_text(None, row.call_id, row.id, row.text)
    return {"text": seal_text(key, row.call_id, row.id, text)}


def _seal_transcript(key: bytes, row: Row[Any]) -> dict[str, Any]:
    segments = open_segments(None, row.call_id, row.id, row.segments) or []
    vtt = open_text(None, row.call_id, row.id, row.vtt)
    sealed_segments, sealed_vtt = seal_transcript(key, row.call_id, row.id, segments, vtt)
    return {"segments": sealed_segments, "vtt": sealed_vtt}


_STEPS = (
    _Step("chat_messages", CHAT_MESSAGES, "text", ("text",), _seal_chat_line),
    _Step("transcripts", TRANSCRIPTS, "vtt", ("segments", "vtt"), _seal_transcript),
)


async def _seal_batch(session: AsyncSession, step: _Step, after: uuid.UUID | None, limit: int) -> _Batch:
    table, marker = step.table, step.table.c[step.marker]
    columns = [table.c[name] for name in step.columns]
    query = select(table.c.id, table.c.call_id, *columns).where(marker.is_not(None), stored_in_clear(marker))
    if after is not None:
        query = query.where(table.c.id > after)
    rows = (await session.execute(query.order_by(table.c.id).limit(limit))).all()
    batch = _Batch(rows[-1].id if rows else None, selected=len(rows))
    for row in rows:
        try:
            key = await call_data_key(session, row.call_id, create=True)
        except (KeyUnavailable, DecryptionError):
            batch.skipped += 1
            continue
        if key is None:  # not after require_keys; kept in clear rather than failing the run
            continue
        # Only if the row is as read: one changed meanwhile waits for the next run.
        changed = await session.execute(
            update(table)
            .where(table.c.id == row.id, marker == getattr(row, step.marker))
            .values(step.seal(key, row))
        )
        batch.sealed += int(changed.rowcount)  # type: ignore[attr-defined]
    return batch


async def seal_plaintext(sessions: SessionFactory, *, actor: str, batch: int = BATCH) -> SealedText:
    """Seal every chat line and transcript still stored in clear; audited once, with the counts.
    Needs sessions with the installation keys (``KeysUnavailable`` otherwise)."""
    counts = {"chat_messages": 0, "transcripts": 0, "skipped": 0}
    for step in _STEPS:
        after: uuid.UUID | None = None
        while True:
            async with sessions() as session:
                require_keys(session.info)
                done = await _seal_batch(session, step, after, batch)
                await session.commit()
            counts[step.name] += done.sealed
            counts["skipped"] += done.skipped
            if done.selected < batch:
                break
            after = done.last_id
    if counts["chat_messages"] or counts["transcripts"]:
        async with sessions() as session:
            await audit.record(
                session,
                actor=actor,
                action="call_text.sealed",
                target="installation",
                details=counts,
            )
            await session.commit()
    return SealedText(**counts)
