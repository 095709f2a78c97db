"""Transcripts as the staff API reads them.

The table belongs to transcription, which writes it (``transcription.job``); signaling only
reads it, so it is named here with the columns the API shows rather than imported, as
recordings names signaling's ``calls``. A transcript is always looked up through its call's
organisation: another organisation's id is not found, exactly like an id that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import JSON, Boolean, Row, String, Text, Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from db import UTCDateTime
from signaling.models import Call

_TRANSCRIPTS = table(
    "transcripts",
    column("id", Uuid),
    column("call_id", Uuid),
    column("status", String),
    column("language", String),
    column("model", String),
    column("segments", JSON),
    column("vtt", Text),
    column("redacted", Boolean),
    column("error", String),
    column("legal_hold", Boolean),
    column("created_at", UTCDateTime()),
    column("completed_at", UTCDateTime()),
    column("delete_after", UTCDateTime()),
)


async def transcript_in_org(db: AsyncSession, transcript_id: uuid.UUID, org_id: uuid.UUID) -> Row[Any] | None:
    """The transcript if its call belongs to ``org_id``; None otherwise."""
    return (
        await db.execute(
            select(_TRANSCRIPTS)
            .join(Call, Call.id == _TRANSCRIPTS.c.call_id)
            .where(_TRANSCRIPTS.c.id == transcript_id, Call.org_id == org_id)
        )
    ).first()


async def transcripts_of_calls(
    db: AsyncSession, call_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """Per call that has one: its transcript's id and status."""
    if not call_ids:
        return {}
    rows = await db.execute(
        select(_TRANSCRIPTS.c.call_id, _TRANSCRIPTS.c.id, _TRANSCRIPTS.c.status).where(
            _TRANSCRIPTS.c.call_id.in_(list(call_ids))
        )
    )
    return {row.call_id: (row.id, row.status) for row in rows}
