"""Transcripts and chat messages as retention sees them: each row carries its own deadline
(``delete_after``), set when it is created and moved when a rule of its kind changes.

The tables belong to transcription and signaling, which this package must not import; they are
named here with just the columns retention needs (as ``retention`` names ``calls``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Interval,
    TableClause,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import CHAT_MESSAGES, TRANSCRIPTS
from privacy.attachments import ATTACHMENT_ROWS
from privacy.models import RetentionKind


@dataclass(frozen=True, slots=True)
class CallData:
    """One kind of per-call rows with a stored deadline: its table and how receipts name it."""

    kind: RetentionKind
    table: TableClause
    # "transcript" → audit target "transcript:<id>", action "transcript.deleted".
    noun: str
    # Rows on legal hold keep their deadline and are never swept (chat has no hold).
    has_legal_hold: bool

    def not_held(self) -> ColumnElement[bool]:
        return self.table.c.legal_hold.is_(False) if self.has_legal_hold else true()


CALL_DATA: dict[RetentionKind, CallData] = {
    RetentionKind.TRANSCRIPTS: CallData(RetentionKind.TRANSCRIPTS, TRANSCRIPTS, "transcript", True),
    RetentionKind.CHAT: CallData(RetentionKind.CHAT, CHAT_MESSAGES, "chat_message", False),
    RetentionKind.ATTACHMENTS: CallData(RetentionKind.ATTACHMENTS, ATTACHMENT_ROWS, "attachment", False),
}


def plus_days(dialect: str, created_at: Any, days: int) -> ColumnElement[Any]:
    """``created_at`` plus ``days``, computed by the database for every row."""
    if dialect == "postgresql":
        later: ColumnElement[Any] = created_at + literal(timedelta(days=days), Interval())
        return later
    # UTCDateTime keeps SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text; %f is SS.SSS.
    return func.strftime("%Y-%m-%d %H:%M:%f000", created_at, f"+{int(days)} days")


async def move_deadlines(
    session: AsyncSession, kind: RetentionKind, calls: ColumnElement[bool], days: int, *, calls_id: Any
) -> int:
    """Set the deadline of ``kind``'s rows of the calls ``calls`` selects (``calls_id`` is the
    calls table's id column) to their creation plus ``days``; rows on hold keep theirs."""
    data = CALL_DATA[kind]
    rows = data.table
    result = await session.execute(
        update(rows)
        .where(rows.c.call_id.in_(select(calls_id).where(calls)), data.not_held())
        .values(delete_after=plus_days(session.get_bind().dialect.name, rows.c.created_at, days))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
