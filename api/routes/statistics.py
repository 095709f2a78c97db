"""Simple call statistics per day for supervisors and admins: calls answered and abandoned, and
how long visitors waited, computed by the database (SQLite and PostgreSQL alike).

Days are the organisation's days: calendar days in its time zone (``?timezone=`` asks for
another) of the moment the visitor joined the queue. An organisation's time zone is the one
its queues keep their opening hours in (the most common one; ``Europe/Amsterdam``, the queues'
default, when it has none). SQLite knows no time zones, so the database sums the figures per
quarter of an hour (UTC), which every time zone's midnight falls on, and the quarters are
added up into local days here. The wait of an answered call runs
from joining to being accepted; the wait of an abandoned call from joining to giving up. Ratings
are the visitors' optional 1-5 stars after an answered call (signaling.rating), counted on the
call's day, and so are its completed transfers (signaling.transfer).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import Field, field_validator
from sqlalchemy import BigInteger, ColumnElement, Float, Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting, actor
from db import audit
from signaling.models import Call, CallStatus
from signaling.payloads import Payload
from signaling.queries import organisation_timezone

routes = Api()

STATISTICS_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
MAX_DAYS = 366
# Every time zone's offset from UTC is a whole number of quarter hours.
BUCKET_SECONDS = 900


class StatisticsQuery(Payload):
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 14
    # csv: the per-day rows and a totals row, for a spreadsheet.
    format: Literal["json", "csv"] = "json"
    # An IANA time zone; default: the organisation's.
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from exc
        return value


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
    # Transfers completed (call:transfer to a queue, or accepted by another adviser).
    transfers: int = 0


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


def _bucket_of(dialect: str, moment: Any) -> ColumnElement[Any]:
    """The UTC quarter hour of ``moment``, as seconds since the epoch divided by 900."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", moment), Integer) / BUCKET_SECONDS
    return cast(func.floor(func.extract("epoch", moment) / BUCKET_SECONDS), BigInteger)


def _measures(dialect: str) -> list[ColumnElement[Any]]:
    """Sums, counts and maxima only: they add up across quarters into days (a mean does not)."""
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
        func.sum(waited).label("wait_sum"),
        func.count(waited).label("waits"),
        func.max(waited).label("max_wait"),
        func.count(Call.rating).label("ratings"),
        func.sum(cast(Call.rating, Float)).label("rating_sum"),
        func.coalesce(func.sum(Call.transfers), 0).label("transfers"),
    ]


class _Tally:
    """One day's (or the period's) figures, added up from quarter hours."""

    def __init__(self) -> None:
        self.total = self.answered = self.abandoned = self.waits = self.ratings = self.transfers = 0
        self.wait_sum = self.rating_sum = 0.0
        self.max_wait: float | None = None

    def add(self, row: Any) -> None:
        self.total += int(row.total)
        self.answered += int(row.answered)
        self.abandoned += int(row.abandoned)
        self.waits += int(row.waits)
        self.wait_sum += float(row.wait_sum or 0.0)
        if row.max_wait is not None:
            self.max_wait = max(float(row.max_wait), self.max_wait or 0.0)
        self.ratings += int(row.ratings)
        self.rating_sum += float(row.rating_sum or 0.0)
        self.transfers += int(row.transfers)

    def figures(self, day: date) -> DayStatistics:
        return DayStatistics(
            day=day,
            total=self.total,
            answered=self.answered,
            abandoned=self.abandoned,
            average_wait_seconds=round(self.wait_sum / self.waits, 1) if self.waits else None,
            max_wait_seconds=round(self.max_wait, 1) if self.max_wait is not None else None,
            ratings=self.ratings,
            average_rating=round(self.rating_sum / self.ratings, 2) if self.ratings else None,
            transfers=self.transfers,
        )


async def call_statistics(
    db: AsyncSession, org_id: Any, *, days: int, now: datetime, timezone: str
) -> Statistics:
    """Per-day and total call figures of ``org_id`` for the ``days`` days of ``timezone``
    ending on the day of ``now`` there."""
    dialect = db.get_bind().dialect.name
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    scope = (Call.org_id == org_id) & (Call.created_at >= since)
    bucket = _bucket_of(dialect, Call.created_at).label("bucket")
    rows = (await db.execute(select(bucket, *_measures(dialect)).where(scope).group_by(bucket))).all()
    per_day: dict[date, _Tally] = defaultdict(_Tally)
    totals = _Tally()
    for row in rows:
        start = datetime.fromtimestamp(int(row.bucket) * BUCKET_SECONDS, UTC)
        per_day[start.astimezone(zone).date()].add(row)
        totals.add(row)
    period = [first + timedelta(days=n) for n in range(days)]
    return Statistics(
        timezone=timezone,
        days=days,
        per_day=[per_day.get(day, _Tally()).figures(day) for day in period],
        totals=totals.figures(today),
    )


@routes.route(
    "GET",
    "/statistics",
    summary="Calls answered and abandoned, waiting times and visitors' ratings per day in the "
    "organisation's time zone (?days=1..366, default 14; ?timezone=IANA name; ?format=csv for CSV, "
    "audited as an export)",
    tag="statistics",
    response=Statistics,
    roles=STATISTICS_READERS,
    query=StatisticsQuery,
)
async def get_statistics(request: web.Request) -> Statistics | web.Response:
    claims = acting(request)
    params = query(request, StatisticsQuery)
    async with request.app[SESSIONS]() as db:
        timezone = params.timezone or await organisation_timezone(db, claims.org_id)
        figures = await call_statistics(
            db, claims.org_id, days=params.days, now=datetime.now(UTC), timezone=timezone
        )
        if params.format == "json":
            return figures
        await audit.record(
            db,
            org_id=claims.org_id,
            actor=actor(claims),
            action="statistics.exported",
            target=f"organisation:{claims.org_id}",
            details={"format": "csv", "days": params.days, "timezone": timezone},
        )
        await db.commit()
    return web.Response(
        body=statistics_csv(figures),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="statistics-{datetime.now(UTC):%Y%m%d}.csv"',
            "Cache-Control": "no-store",
        },
    )


CSV_COLUMNS = (
    "day",
    "total",
    "answered",
    "abandoned",
    "average_wait_seconds",
    "max_wait_seconds",
    "ratings",
    "average_rating",
    "transfers",
)


def statistics_csv(figures: Statistics) -> bytes:
    """One row per day, oldest first, then a ``total`` row for the period (its ``day`` column
    says ``total``); empty cells where the JSON has null."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day in [*figures.per_day, figures.totals]:
        values = day.model_dump()
        values["day"] = "total" if day is figures.totals else day.day.isoformat()
        writer.writerow(["" if values[column] is None else values[column] for column in CSV_COLUMNS])
    return buffer.getvalue().encode()
