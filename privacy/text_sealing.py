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
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit
from db.keys import require_keys
from db.tables import CHAT_MESSAGES, TRANSCRIPTS
from privacy.call_keys import call_data_key, open_segments, seal_text, seal_transcript
from recordings.errors import DecryptionError, KeyUnavailable

_SEALED_LIKE = "sealed:v1:%"
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


async def _key(session: AsyncSession, call_id: uuid.UUID, batch: _Batch) -> bytes | None:
    try:
        return await call_data_key(session, call_id, create=True)
    except (KeyUnavailable, DecryptionError):
        batch.skipped += 1
        return None


async def _seal_chat_batch(session: AsyncSession, after: uuid.UUID | None, limit: int) -> _Batch:
    table = CHAT_MESSAGES
    query = select(table.c.id, table.c.call_id, table.c.text).where(table.c.text.not_like(_SEALED_LIKE))
    if after is not None:
        query = query.where(table.c.id > after)
    rows = (await session.execute(query.order_by(table.c.id).limit(limit))).all()
    batch = _Batch(rows[-1].id if rows else None, selected=len(rows))
    for row in rows:
        key = await _key(session, row.call_id, batch)
        if key is None:
            continue
        changed = await session.execute(
            update(table)
            .where(table.c.id == row.id, table.c.text == row.text)
            .values(text=seal_text(key, row.call_id, row.id, row.text))
        )
        batch.sealed += int(changed.rowcount)  # type: ignore[attr-defined]
    return batch


async def _seal_transcript_batch(session: AsyncSession, after: uuid.UUID | None, limit: int) -> _Batch:
    table = TRANSCRIPTS
    query = select(table.c.id, table.c.call_id, table.c.segments, table.c.vtt).where(
        table.c.vtt.is_not(None), table.c.vtt.not_like(_SEALED_LIKE)
    )
    if after is not None:
        query = query.where(table.c.id > after)
    rows = (await session.execute(query.order_by(table.c.id).limit(limit))).all()
    batch = _Batch(rows[-1].id if rows else None, selected=len(rows))
    for row in rows:
        key = await _key(session, row.call_id, batch)
        if key is None:
            continue
        segments = open_segments(None, row.call_id, row.id, row.segments) or []
        sealed_segments, sealed_vtt = seal_transcript(key, row.call_id, row.id, segments, row.vtt)
        changed = await session.execute(
            update(table)
            .where(table.c.id == row.id, table.c.vtt == row.vtt)
            .values(segments=sealed_segments, vtt=sealed_vtt)
        )
        batch.sealed += int(changed.rowcount)  # type: ignore[attr-defined]
    return batch


async def seal_plaintext(sessions: SessionFactory, *, actor: str, batch: int = BATCH) -> SealedText:
    """Seal every chat line and transcript still stored in clear; audited once, with the counts.
    Needs sessions with the installation keys (``KeysUnavailable`` otherwise)."""
    counts = {"chat_messages": 0, "transcripts": 0, "skipped": 0}
    for name, step in (("chat_messages", _seal_chat_batch), ("transcripts", _seal_transcript_batch)):
        after: uuid.UUID | None = None
        while True:
            async with sessions() as session:
                require_keys(session.info)
                done = await step(session, after, batch)
                await session.commit()
            counts[name] += done.sealed
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
