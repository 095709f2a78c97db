"""Database queries of the accounts domain; each takes the session first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Queue, User, WidgetKey, queue_advisers


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
