"""Database queries of the signaling domain; each takes the session first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.models import Call


async def update_call(session: AsyncSession, call_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(Call).where(Call.id == call_id).values(**values))


async def calls_for_org(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    adviser_id: uuid.UUID | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> Sequence[Call]:
    query = select(Call).where(Call.org_id == org_id)
    if adviser_id is not None:
        query = query.where(Call.adviser_id == adviser_id)
    if before is not None:
        query = query.where(Call.created_at < before)
    return (await session.scalars(query.order_by(Call.created_at.desc()).limit(limit))).all()
