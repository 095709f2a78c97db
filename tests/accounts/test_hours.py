"""``accounts.hours``: opening hours with closing days, the next opening and when a visitor
who waited too long should try again, in the queue's time zone (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from accounts import hours

AMS = "Europe/Amsterdam"
ZONE = ZoneInfo(AMS)
WEEKDAYS = {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def test_a_closing_day_closes_the_queue_all_day_and_the_next_opening_skips_it() -> None:
    # Thursday 24 and Friday 25 December 2026 closed: on the Thursday the next opening is Monday.
    closed = hours.closing_days(["2026-12-25", "2026-12-24"])
    assert closed == ["2026-12-24", "2026-12-25"]
    assert hours.is_open(WEEKDAYS, AMS, local("2026-12-23T10:00"), closed)
    assert not hours.is_open(WEEKDAYS, AMS, local("2026-12-24T10:00"), closed)
    assert hours.next_opening(WEEKDAYS, AMS, local("2026-12-24T10:00"), closed) == local("2026-12-28T09:00")
    # Without opening hours a queue is open all day, except on its closing days.
    assert not hours.is_open(None, AMS, local("2026-12-25T12:00"), closed)
    assert hours.next_opening(None, AMS, local("2026-12-24T08:00"), closed) == local("2026-12-26T00:00")
    assert hours.next_opening(None, AMS, local("2026-12-23T08:00"), closed) is None  # open now


def test_the_time_zone_decides_which_date_is_closed() -> None:
    # 23:30 UTC on the 24th is already the 25th in Amsterdam.
    late = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)
    assert not hours.is_open(None, AMS, late, ["2026-12-25"])
    assert hours.is_open(None, "UTC", late, ["2026-12-25"])


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Open in the morning: the next period, after lunch.
        ("2026-12-22T10:00", "2026-12-22T13:00"),
        # Open in the afternoon: the next morning.
        ("2026-12-22T15:00", "2026-12-23T09:00"),
        # Wednesday afternoon before two closing days: Monday morning.
        ("2026-12-23T16:59", "2026-12-28T09:00"),
        # Closed now (lunch): the next opening.
        ("2026-12-22T12:30", "2026-12-22T13:00"),
        # Closed on a closing day: the next day that opens.
        ("2026-12-25T10:00", "2026-12-28T09:00"),
    ],
)
def test_retry_at_is_the_start_of_the_next_opening_period(now: str, expected: str) -> None:
    closed = ["2026-12-24", "2026-12-25"]
    assert hours.retry_at(WEEKDAYS, AMS, local(now), closed) == local(expected)


def test_touching_intervals_make_one_period_even_over_midnight() -> None:
    nonstop = {"mon": [["00:00", "24:00"]], "tue": [["00:00", "12:00"]], "wed": [["09:00", "10:00"]]}
    # Monday 21 December 2026, noon: open until Tuesday noon, so try again Wednesday 09:00.
    assert hours.retry_at(nonstop, AMS, local("2026-12-21T12:00")) == local("2026-12-23T09:00")


def test_retry_at_names_no_time_for_a_queue_that_never_closes() -> None:
    assert hours.retry_at(None, AMS, local("2026-12-21T12:00")) is None
    # Always open but for one closing day: the day after it.
    assert hours.retry_at(None, AMS, local("2026-12-21T12:00"), ["2026-12-24"]) == local("2026-12-25T00:00")


def test_retry_at_follows_daylight_saving_time() -> None:
    # Clocks go forward on Sunday 29 March 2026: Monday 09:00 is 07:00 UTC, no longer 08:00.
    friday = local("2026-03-27T15:00")
    assert hours.retry_at(WEEKDAYS, AMS, friday).astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", [["2026-02-30"], ["25-12-2026"], ["tomorrow"], [12]])
def test_closing_days_that_are_not_dates_are_refused(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="not a date"):
        hours.closing_days(bad)  # type: ignore[arg-type]
