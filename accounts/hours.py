"""When a queue is open: weekly opening hours, ``{"mon": [["09:00", "17:30"]], ...}``, and
closing days (holidays, ``["2026-12-25", ...]``), both in the queue's time zone.

A queue is open at an instant when that instant's local date is not a closing day and its local
time falls in one of that weekday's intervals (no hours at all: open all day, every day that is
not a closing day). ``next_opening`` is the first instant after a closed one at which the queue
opens; ``retry_at`` is what a visitor who waited too long is told: the start of the next opening
period after the current one, when the queue starts again with nobody waiting.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Enough for a year of holidays; a longer list is more likely a mistake than a plan.
MAX_CLOSING_DAYS = 400

OpeningHours = dict[str, list[list[str]]]


def _parse(value: str) -> time:
    hours, minutes = value.split(":")
    if hours == "24" and minutes == "00":
        return time.max
    return time(int(hours), int(minutes))


def validate(hours: OpeningHours) -> OpeningHours:
    """Check the shape and that every interval runs forwards; raise ValueError if not."""
    for day, intervals in hours.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        for interval in intervals:
            if len(interval) != 2:
                raise ValueError(f"{day}: an interval is [start, end]")
            try:
                start, end = _parse(interval[0]), _parse(interval[1])
            except ValueError as exc:
                raise ValueError(f"{day}: times are HH:MM") from exc
            if start >= end:
                raise ValueError(f"{day}: {interval[0]} is not before {interval[1]}")
    return hours


def closing_days(values: Collection[str]) -> list[str]:
    """Closing days as sorted, unique ISO dates (``YYYY-MM-DD``); raise ValueError if not."""
    if len(values) > MAX_CLOSING_DAYS:
        raise ValueError(f"at most {MAX_CLOSING_DAYS} closing days")
    days = set()
    for value in values:
        try:
            days.add(date.fromisoformat(value).isoformat())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{str(value)[:20]!r} is not a date like 2026-12-25") from exc
    return sorted(days)


def _closed_on(day: date, closed: Collection[str]) -> bool:
    return day.isoformat() in closed


def _day_open(hours: OpeningHours | None, local: datetime) -> bool:
    if hours is None:
        return True
    return any(_parse(a) <= local.time() < _parse(b) for a, b in hours.get(DAYS[local.weekday()], []))


def is_open(hours: OpeningHours | None, timezone: str, now: datetime, closed: Collection[str] = ()) -> bool:
    local = now.astimezone(ZoneInfo(timezone))
    return not _closed_on(local.date(), closed) and _day_open(hours, local)


def next_opening(
    hours: OpeningHours | None, timezone: str, now: datetime, closed: Collection[str] = ()
) -> datetime | None:
    """When the queue next opens (aware, UTC-comparable), or None if it is open or never opens."""
    if is_open(hours, timezone, now, closed):
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    # A week past the last closing day is the furthest the next opening can be.
    for offset in range(len(closed) + 8):
        day = local.date() + timedelta(days=offset)
        if _closed_on(day, closed):
            continue
        starts = (
            ["00:00"]
            if hours is None
            else sorted(start for start, _end in hours.get(DAYS[day.weekday()], []))
        )
        for start in starts:
            candidate = datetime.combine(day, _parse(start), tzinfo=zone)
            if candidate > local:
                return candidate
    return None


def _open_until(
    hours: OpeningHours | None, zone: ZoneInfo, closed: Collection[str], local: datetime
) -> datetime | None:
    """The end of the open stretch ``local`` is in (intervals that touch, also over midnight,
    make one stretch), or None when it never ends."""
    end = local
    for _ in range(len(closed) + 16):
        if _closed_on(end.date(), closed) or not _day_open(hours, end):
            return end
        if hours is None:
            following = [date.fromisoformat(day) for day in closed if date.fromisoformat(day) > end.date()]
            if not following:
                return None
            return datetime.combine(min(following), time(), tzinfo=zone)
        current = next(
            b for a, b in hours.get(DAYS[end.weekday()], []) if _parse(a) <= end.time() < _parse(b)
        )
        if _parse(current) == time.max:
            end = datetime.combine(end.date() + timedelta(days=1), time(), tzinfo=zone)
        else:
            end = datetime.combine(end.date(), _parse(current), tzinfo=zone)
    return None


def retry_at(
    hours: OpeningHours | None, timezone: str, now: datetime, closed: Collection[str] = ()
) -> datetime | None:
    """When a visitor who waited too long should try again: the next opening when the queue is
    closed now, else the start of the next opening period after the current one. None when
    the queue is always open (there is no better moment to name)."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    if not is_open(hours, timezone, now, closed):
        return next_opening(hours, timezone, now, closed)
    end = _open_until(hours, zone, closed, local)
    return None if end is None else next_opening(hours, timezone, end, closed)
