"""Leases on job rows (docs/architecture.md, "Worker": jobs are rows), for any table with ``id``,
``claimed_by`` and ``lease_until`` columns: recordings, transcripts, privacy requests, webhook
deliveries. This is the one claim implementation; a job never writes its own claim, backoff or clock.

Claiming (``claim_rows``) is ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` on PostgreSQL,
so concurrent workers pass over rows another one is claiming instead of waiting on them; on
SQLite, which runs one writer at a time, one conditional ``UPDATE ... WHERE id IN (subquery) AND
<condition>`` sees the same state in its subquery and its update. Every later write of the holder
is conditional on still holding the row (``update_if_held``), so a worker whose lease ran out and
was taken over can no longer change anything.

Long work keeps its lease with ``lease_kept``, which renews it only while that work runs: when the
work ends, fails or is cancelled (the worker's per-run timeout, a stop), renewing stops with it,
and the lease runs out within one lease length, after which another worker may claim the row.

Retries wait ``backoff(attempts, base=..., cap=...)``: capped exponential, optionally jittered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.engine import SessionFactory

logger = logging.getLogger(__name__)


def default_worker_id() -> str:
    """Host, process and a random part: unique per worker, readable in ``claimed_by``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(slots=True)
class Clock:
    """A job's "now": ``start`` advancing with real time. Tests pass a later ``start`` to act in
    the future (a lease run out, a deadline passed) without waiting."""

    start: datetime = field(default_factory=utcnow)
    _t0: float = field(default_factory=time.monotonic)

    @classmethod
    def starting(cls, now: datetime | None) -> Clock:
        return cls(now or utcnow())

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._t0)


# A mapped class with ``id``, ``claimed_by`` and ``lease_until`` columns. (A Protocol cannot say
# this to mypy: a mapped attribute is a column on the class and a value on an instance.)
Leased = Any


def lease_free(model: type[Leased], now: datetime) -> ColumnElement[bool]:
    """Nobody holds the row, or its holder's lease has run out."""
    return or_(model.lease_until.is_(None), model.lease_until < now)


async def claim_rows(
    session: AsyncSession,
    model: type[Leased],
    condition: ColumnElement[bool],
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    order_by: Sequence[Any],
    columns: Sequence[Any],
    values: dict[str, Any] | None = None,
) -> list[Row[Any]]:
    """Lease up to ``limit`` rows matching ``condition`` whose lease is free to ``worker_id``
    until ``now + lease`` (also setting ``values``); returns ``columns`` of the rows taken.
    The caller commits (the claim holds from the commit on).

    ``condition`` may hold subqueries on other tables (a delivery's endpoint being active): only
    ``model``'s rows are locked. On PostgreSQL the ids are selected first and updated by id, not
    in one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``, which
    PostgreSQL may evaluate more than once and so claim more than ``limit`` rows."""
    condition = and_(condition, lease_free(model, now))
    target: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        # SKIP LOCKED: rows another worker is claiming right now are passed over, not waited on.
        ids = list(
            await session.scalars(
                select(model.id)
                .where(condition)
                .order_by(*order_by)
                .limit(limit)
                .with_for_update(skip_locked=True, of=model)
            )
        )
        if not ids:
            return []
        target = model.id.in_(ids)
    else:
        chosen = select(model.id).where(condition).order_by(*order_by).limit(limit)
        target = and_(model.id.in_(chosen), condition)
    result = await session.execute(
        update(model)
        .where(target)
        .values(claimed_by=worker_id, lease_until=now + lease, **(values or {}))
        .returning(*columns)
        .execution_options(synchronize_session=False)
    )
    return list(result.all())


async def update_if_held(
    session: AsyncSession, model: type[Leased], row_id: uuid.UUID, worker_id: str, /, **values: Any
) -> bool:
    """Update the row only while ``worker_id`` still holds it; False when it does not.
    (Positional-only, so that a column may be called ``model``.)"""
    result = await session.execute(
        update(model)
        .where(model.id == row_id, model.claimed_by == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff(attempts: int, *, base: float, cap: float, jitter: bool = False) -> timedelta:
    """The delay after failed attempt number ``attempts`` (1, 2, ...): ``base``, 2 * ``base``,
    4 * ``base``, ... capped at ``cap``.

    ``jitter`` draws the delay from the upper half of that ("equal jitter": half fixed, half
    random), so that many rows failing together, against a receiver that was down, do not all
    come back at the same instant."""
    if not 0 < base <= cap:
        raise ValueError("need 0 < base <= cap")
    # The exponent is bounded: 2**32 * base is past any cap, and 2**attempts is not computed.
    ceiling = min(base * 2 ** min(max(attempts - 1, 0), 32), cap)
    if jitter:
        ceiling = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret
    return timedelta(seconds=ceiling)


@dataclass
class LeaseKeeper:
    """What ``lease_kept`` yields: ``lost`` turns true once a renewal found the row taken;
    ``renewals`` counts the renewals made."""

    lost: bool = False
    renewals: int = field(default=0)


@contextlib.asynccontextmanager
async def lease_kept(
    sessions: SessionFactory,
    model: type[Leased],
    row_id: uuid.UUID,
    worker_id: str,
    *,
    lease_seconds: float,
    clock: Callable[[], datetime],
) -> AsyncIterator[LeaseKeeper]:
    """Renew the lease every third of its length while long work runs (a transcription, an
    upload): the lease then only runs out when this process dies, or when the work inside the
    ``async with`` ends in any way, a cancellation included (the worker gave the run up at its
    timeout, or is stopping). Then renewing stops before this returns or raises, and the row
    is free to others one lease length after the last renewal at the latest."""
    keeper = LeaseKeeper()
    lease = timedelta(seconds=lease_seconds)

    async def renew() -> None:
        while not keeper.lost:
            await asyncio.sleep(lease_seconds / 3)
            try:
                async with sessions() as session:
                    held = await update_if_held(
                        session, model, row_id, worker_id, lease_until=clock() + lease
                    )
                    await session.commit()
            except Exception:
                logger.exception("could not renew the lease of %s %s", model.__name__, row_id)
                continue
            keeper.renewals += 1
            if not held:
                keeper.lost = True
                logger.warning("%s %s was taken from this worker", model.__name__, row_id)

    task = asyncio.create_task(renew(), name=f"lease:{row_id}")
    try:
        yield keeper
    finally:
        # Cancelled before anything else, so that no renewal starts after the work has ended,
        # even when this task is cancelled again while the renewal winds down.
        task.cancel()
        # gather, not suppress(CancelledError): a stop of *this* task arriving while the
        # renewal winds down must propagate, not pass for the renewal's own cancellation.
        await asyncio.gather(task, return_exceptions=True)
