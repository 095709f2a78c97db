"""Keyset paging over ``(created_at, id)``, newest first.

A page ends at a row; the next page holds the rows that sort after it in
``ORDER BY created_at DESC, id DESC``. Comparing the timestamp alone would skip every other
row that shares the last row's instant (bulk inserts, one transaction's ``now()``), so the id
breaks ties. Written as ``created_at < t OR (created_at = t AND id < i)`` rather than a row
value comparison, which SQLite and PostgreSQL both plan well with an index on ``created_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.orm import InstrumentedAttribute


def older_than(
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    before: datetime | None,
    before_id: uuid.UUID | None,
) -> ColumnElement[bool]:
    """Rows after ``(before, before_id)`` in newest-first order; ``before_id`` None: rows
    strictly before ``before``; both None: every row."""
    if before is None:
        return true()
    if before_id is None:
        return created_at < before
    return or_(created_at < before, and_(created_at == before, row_id < before_id))


def newest_first(
    created_at: InstrumentedAttribute[Any], row_id: InstrumentedAttribute[Any]
) -> tuple[Any, Any]:
    """The order ``older_than`` pages in."""
    return created_at.desc(), row_id.desc()
