"""Opening hours of a queue: ``{"mon": [["09:00", "17:30"]], ...}`` in the queue's time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

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


def is_open(hours: OpeningHours | None, timezone: str, now: datetime) -> bool:
    if hours is None:
        return True
    local = now.astimezone(ZoneInfo(timezone))
    day = DAYS[local.weekday()]
    return any(_parse(a) <= local.time() < _parse(b) for a, b in hours.get(day, []))


def next_opening(hours: OpeningHours | None, timezone: str, now: datetime) -> datetime | None:
    """When the queue next opens (aware, UTC-comparable), or None if it never does / is open."""
    if hours is None or is_open(hours, timezone, now):
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        for start, _end in sorted(hours.get(DAYS[day.weekday()], [])):
            candidate = datetime.combine(day, _parse(start), tzinfo=zone)
            if candidate > local:
                return candidate
    return None
