"""Database queries of the signaling domain; each takes the session first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.models import Call, Queue, User, WidgetKey, queue_advisers


async def queue_by_id(session: AsyncSession, queue_id: uuid.UUID) -> Queue | None:
    return await session.get(Queue, queue_id)


async def org_queues(session: AsyncSession, org_id: uuid.UUID) -> Sequence[Queue]:
    return (await session.scalars(select(Queue).where(Queue.org_id == org_id).order_by(Queue.name))).all()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def served_queue_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(select(queue_advisers.c.queue_id).where(queue_advisers.c.user_id == user_id))
    return list(rows)


async def widget_key(session: AsyncSession, key: str) -> WidgetKey | None:
    return await session.scalar(select(WidgetKey).where(WidgetKey.key == key, WidgetKey.active.is_(True)))


async def any_widget_key_allows(session: AsyncSession, origin: str) -> bool:
    """Whether some active widget key lists ``origin`` (for CORS preflights, which carry no key)."""
    for origins in await session.scalars(select(WidgetKey.origins).where(WidgetKey.active.is_(True))):
        if origin in origins:
            return True
    return False


async def org_widget_origins(session: AsyncSession, org_id: uuid.UUID) -> set[str]:
    """Every origin an active widget key of ``org_id`` allows (CORS for a visitor's requests)."""
    rows = await session.scalars(
        select(WidgetKey.origins).where(WidgetKey.org_id == org_id, WidgetKey.active.is_(True))
    )
    return {origin for origins in rows for origin in origins}


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
