"""Database queries of the signaling domain; each takes the session first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Queue
from db import paging, utcnow
from signaling.models import Call, CallTransfer, TransferOutcome


async def update_call(session: AsyncSession, call_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(Call).where(Call.id == call_id).values(**values))


async def record_transfer(
    session: AsyncSession,
    call_id: uuid.UUID,
    *,
    from_adviser_id: uuid.UUID,
    outcome: TransferOutcome,
    to_queue_id: uuid.UUID | None = None,
    to_adviser_id: uuid.UUID | None = None,
) -> None:
    """Store one transfer attempt; a completed one (``QUEUED``) also counts on the call."""
    session.add(
        CallTransfer(
            call_id=call_id,
            from_adviser_id=from_adviser_id,
            to_queue_id=to_queue_id,
            to_adviser_id=to_adviser_id,
            outcome=outcome,
            resolved_at=None if outcome == TransferOutcome.RINGING else utcnow(),
        )
    )
    if outcome == TransferOutcome.QUEUED:
        await count_transfer(session, call_id)


async def count_transfer(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(update(Call).where(Call.id == call_id).values(transfers=Call.transfers + 1))


async def resolve_transfer(session: AsyncSession, call_id: uuid.UUID, outcome: TransferOutcome) -> None:
    """How the call's ringing transfer to an adviser ended; an accepted one counts on the call."""
    await session.execute(
        update(CallTransfer)
        .where(CallTransfer.call_id == call_id, CallTransfer.outcome == TransferOutcome.RINGING)
        .values(outcome=outcome, resolved_at=utcnow())
    )
    if outcome == TransferOutcome.ACCEPTED:
        await count_transfer(session, call_id)


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


# The queues' default time zone, so an organisation without queues has one too.
DEFAULT_TIMEZONE = "Europe/Amsterdam"


async def organisation_timezone(session: AsyncSession, org_id: uuid.UUID) -> str:
    """The time zone most of the organisation's queues keep their hours in: the one its
    statistics count days in and a calls filter's bare dates mean."""
    count = func.count().label("queues")
    row = (
        await session.execute(
            select(Queue.timezone, count)
            .where(Queue.org_id == org_id)
            .group_by(Queue.timezone)
            .order_by(count.desc(), Queue.timezone)
            .limit(1)
        )
    ).first()
    return str(row.timezone) if row is not None else DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which of an organisation's calls a list or an export shows; None: any."""

    adviser_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    # The stored status: waiting, ringing, active, ended (answered) or abandoned.
    status: str | None = None
    # Why the call ended (visitor_left, adviser_disconnected, ...).
    end_reason: str | None = None
    # Joined the queue at or after ``since`` and before ``until``.
    since: datetime | None = None
    until: datetime | None = None


async def calls_page(
    session: AsyncSession,
    org_id: uuid.UUID,
    which: CallFilter,
    *,
    before: datetime | None = None,
    before_id: uuid.UUID | None = None,
    limit: int = 50,
) -> Sequence[Call]:
    """One page of ``org_id``'s calls matching ``which``, newest first, keyset-paged over
    ``(created_at, id)`` (``db.paging``): the next page starts after ``(before, before_id)``."""
    query = select(Call).where(
        Call.org_id == org_id, paging.older_than(Call.created_at, Call.id, before, before_id)
    )
    if which.adviser_id is not None:
        query = query.where(Call.adviser_id == which.adviser_id)
    if which.queue_id is not None:
        query = query.where(Call.queue_id == which.queue_id)
    if which.status is not None:
        query = query.where(Call.status == which.status)
    if which.end_reason is not None:
        query = query.where(Call.end_reason == which.end_reason)
    if which.since is not None:
        query = query.where(Call.created_at >= which.since)
    if which.until is not None:
        query = query.where(Call.created_at < which.until)
    query = query.order_by(*paging.newest_first(Call.created_at, Call.id)).limit(limit)
    return (await session.scalars(query)).all()
