"""Transcripts as the staff API reads them.

The table belongs to transcription, which writes it (``transcription.job``); signaling only
reads it, so it is named here with the columns the API shows rather than imported, as
recordings names signaling's ``calls``. A transcript is always looked up through its call's
organisation: another organisation's id is not found, exactly like an id that does not exist.
Its text is sealed with the call's data key (``privacy.call_keys``); ``transcript_text`` opens it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import TRANSCRIPTS
from privacy import call_data_key, open_segments, open_vtt
from signaling.models import Call


async def transcript_in_org(db: AsyncSession, transcript_id: uuid.UUID, org_id: uuid.UUID) -> Row[Any] | None:
    """The transcript if its call belongs to ``org_id``; None otherwise."""
    return (
        await db.execute(
            select(TRANSCRIPTS)
            .join(Call, Call.id == TRANSCRIPTS.c.call_id)
            .where(TRANSCRIPTS.c.id == transcript_id, Call.org_id == org_id)
        )
    ).first()


async def transcripts_of_calls(
    db: AsyncSession, call_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """Per call that has one: its transcript's id and status."""
    if not call_ids:
        return {}
    rows = await db.execute(
        select(TRANSCRIPTS.c.call_id, TRANSCRIPTS.c.id, TRANSCRIPTS.c.status).where(
            TRANSCRIPTS.c.call_id.in_(list(call_ids))
        )
    )
    return {row.call_id: (row.id, row.status) for row in rows}


@dataclass(frozen=True, slots=True)
class TranscriptText:
    """What a transcript says, opened: its segments and its WebVTT (None while not done)."""

    segments: list[dict[str, Any]] | None
    vtt: str | None


async def transcript_text(db: AsyncSession, row: Row[Any]) -> TranscriptText:
    """The transcript's text, opened with its call's data key (sealed rows) or as stored (rows
    in clear from before); ``KeyUnavailable`` (410) when the call's key was shredded."""
    key = await call_data_key(db, row.call_id, create=False)
    return TranscriptText(
        segments=open_segments(key, row.call_id, row.id, row.segments),
        vtt=open_vtt(key, row.call_id, row.id, row.vtt),
    )
