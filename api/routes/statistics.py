"""Simple call statistics per day for supervisors and admins: calls answered and abandoned, and
how long visitors waited, computed by the database (SQLite and PostgreSQL alike).

Days are UTC days of the moment the visitor joined the queue. The wait of an answered call runs
from joining to being accepted; the wait of an abandoned call from joining to giving up. Ratings
are the visitors' optional 1-5 stars after an answered call (signaling.rating), counted on the
call's day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field
from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting
from signaling.models import Call, CallStatus
from signaling.payloads import Payload

routes = Api()

STATISTICS_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
MAX_DAYS = 366


class StatisticsQuery(Payload):
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 14


class DayStatistics(Payload):
    day: date
    total: int
    answered: int
    abandoned: int
    # Seconds; null when nobody waited that day (no answered or abandoned call).
    average_wait_seconds: float | None
    max_wait_seconds: float | None
    # Calls the visitor rated (1-5 stars) and their mean, to two decimals; null when none.
    ratings: int
    average_rating: float | None


class Statistics(Payload):
    timezone: str
    days: int
    # Every day of the period, oldest first; days without calls are zeros.
    per_day: list[DayStatistics]
    totals: DayStatistics


def _seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text on SQLite; julianday reads it as days.
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return cast(func.extract("epoch", later - earlier), Float)


def _day_of(dialect: str, moment: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.date(moment)
    return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD")


def _measures(dialect: str) -> list[ColumnElement[Any]]:
    waited = case(
        (Call.accepted_at.is_not(None), _seconds_between(dialect, Call.accepted_at, Call.created_at)),
        (
            (Call.status == CallStatus.ABANDONED.value) & Call.ended_at.is_not(None),
            _seconds_between(dialect, Call.ended_at, Call.created_at),
        ),
        else_=None,
    )
    return [
        func.count().label("total"),
        func.coalesce(func.sum(case((Call.accepted_at.is_not(None), 1), else_=0)), 0).label("answered"),
        func.coalesce(func.sum(case((Call.status == CallStatus.ABANDONED.value, 1), else_=0)), 0).label(
            "abandoned"
        ),
        func.avg(waited).label("average_wait"),
        func.max(waited).label("max_wait"),
        func.count(Call.rating).label("ratings"),
        # Cast first: PostgreSQL's AVG of an integer is NUMERIC (a Decimal), SQLite's a REAL.
        func.avg(cast(Call.rating, Float)).label("average_rating"),
    ]


def _day(day: date, row: Any | None) -> DayStatistics:
    if row is None:
        return DayStatistics(
            day=day,
            total=0,
            answered=0,
            abandoned=0,
            average_wait_seconds=None,
            max_wait_seconds=None,
            ratings=0,
            average_rating=None,
        )
    return DayStatistics(
        day=day,
        total=int(row.total),
        answered=int(row.answered),
        abandoned=int(row.abandoned),
        average_wait_seconds=round(float(row.average_wait), 1) if row.average_wait is not None else None,
        max_wait_seconds=round(float(row.max_wait), 1) if row.max_wait is not None else None,
        ratings=int(row.ratings),
        average_rating=round(float(row.average_rating), 2) if row.average_rating is not None else None,
    )


async def call_statistics(db: AsyncSession, org_id: Any, *, days: int, today: date) -> Statistics:
    """Per-day and total call figures of ``org_id`` for the ``days`` UTC days ending ``today``."""
    dialect = db.get_bind().dialect.name
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tzinfo=UTC)
    scope = (Call.org_id == org_id) & (Call.created_at >= since)
    day = _day_of(dialect, Call.created_at).label("day")
    rows = (await db.execute(select(day, *_measures(dialect)).where(scope).group_by(day))).all()
    by_day = {date.fromisoformat(str(row.day)[:10]): row for row in rows}
    totals = (await db.execute(select(*_measures(dialect)).where(scope))).one()
    return Statistics(
        timezone="UTC",
        days=days,
        per_day=[_day(first + timedelta(days=n), by_day.get(first + timedelta(days=n))) for n in range(days)],
        totals=_day(today, totals),
    )


@routes.route(
    "GET",
    "/statistics",
    summary="Calls answered and abandoned, waiting times and visitors' ratings per UTC day "
    "(?days=1..366, default 14)",
    tag="statistics",
    response=Statistics,
    roles=STATISTICS_READERS,
    query=StatisticsQuery,
)
async def get_statistics(request: web.Request) -> Statistics:
    claims = acting(request)
    params = query(request, StatisticsQuery)
    async with request.app[SESSIONS]() as db:
        return await call_statistics(db, claims.org_id, days=params.days, today=datetime.now(UTC).date())
