"""``/api/v1/statistics``: calls answered and abandoned and waiting times per day of the
organisation's time zone (or the one asked for), computed by the database; on both backend pairs
(SQLite and PostgreSQL), over real HTTP."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from db import create_engine, create_session_factory
from signaling.models import Call, CallStatus
from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, World, base_url, make_world


async def add_calls(
    backend: Backend,
    world: World,
    calls: list[tuple[datetime, float | None, str]],
    ratings: tuple[int | None, ...] = (),
    transfers: tuple[int, ...] = (),
) -> None:
    """Calls joined at ``created``; answered after ``waited`` seconds, or given up (``abandoned``)
    after it, or still waiting (``waiting``, no wait given); rated by the visitor as in ``ratings``."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            for (created, waited, status), rating, transferred in zip(
                calls, (*ratings, *[None] * len(calls)), (*transfers, *[0] * len(calls)), strict=False
            ):
                until = created + timedelta(seconds=waited) if waited is not None else None
                db.add(
                    Call(
                        org_id=world.org_id,
                        queue_id=world.queue_id,
                        reference=secrets.token_hex(5),
                        visitor_id=secrets.token_hex(8),
                        status=status,
                        created_at=created,
                        accepted_at=until if status in (CallStatus.ENDED, CallStatus.ACTIVE) else None,
                        ended_at=(until + timedelta(minutes=5) if status == CallStatus.ENDED else until)
                        if status != CallStatus.ACTIVE
                        else None,
                        rating=rating,
                        transfers=transferred,
                    )
                )
            await db.commit()
    finally:
        await engine.dispose()


async def test_days_count_answered_and_abandoned_calls_their_waits_and_ratings(
    server, world: World, backend: Backend
) -> None:
    today = datetime.now(UTC).date()
    midnight = datetime.combine(today, time(), tzinfo=UTC)
    yesterday = midnight - timedelta(days=1)
    await add_calls(
        backend,
        world,
        [
            (midnight + timedelta(minutes=1), 30, CallStatus.ENDED),
            (midnight + timedelta(minutes=2), 90, CallStatus.ACTIVE),
            (midnight + timedelta(minutes=3), 20, CallStatus.ABANDONED),
            (midnight + timedelta(minutes=4), None, CallStatus.WAITING),
            (yesterday + timedelta(hours=23, minutes=59), 10, CallStatus.ENDED),
            (yesterday - timedelta(days=1), 500, CallStatus.ENDED),  # outside ?days=2
        ],
        ratings=(4, None, None, None, 5, 1),
        transfers=(2, 1, 0, 0, 0, 1),
    )
    other = await make_world(backend)
    await add_calls(backend, other, [(midnight + timedelta(minutes=5), 999, CallStatus.ENDED)], ratings=(1,))

    supervisor = await as_staff(base_url(server), world, "supervisor")
    answer = await supervisor.get("/statistics", days="2", timezone="UTC")
    assert answer.status == 200, answer.body
    assert answer.body["timezone"] == "UTC" and answer.body["days"] == 2
    first, second = answer.body["per_day"]
    assert first == {
        "day": (today - timedelta(days=1)).isoformat(),
        "total": 1,
        "answered": 1,
        "abandoned": 0,
        "average_wait_seconds": 10.0,
        "max_wait_seconds": 10.0,
        "ratings": 1,
        "average_rating": 5.0,
        "transfers": 0,
    }
    assert second == {
        "day": today.isoformat(),
        "total": 4,
        "answered": 2,
        "abandoned": 1,
        "average_wait_seconds": round((30 + 90 + 20) / 3, 1),
        "max_wait_seconds": 90.0,
        "ratings": 1,
        "average_rating": 4.0,
        "transfers": 3,
    }
    totals = answer.body["totals"]
    assert (totals["total"], totals["answered"], totals["abandoned"]) == (5, 3, 1)
    assert totals["average_wait_seconds"] == round((30 + 90 + 20 + 10) / 4, 1)
    assert totals["max_wait_seconds"] == 90.0
    assert (totals["ratings"], totals["average_rating"]) == (2, 4.5)
    assert totals["transfers"] == 3
    exported = await supervisor.get("/statistics", days="2", timezone="UTC", format="csv")
    assert exported.status == 200
    lines = exported.body.splitlines()
    assert lines[0].endswith(",transfers") and lines[-1].startswith("total,") and lines[-1].endswith(",3")

    week = (await supervisor.get("/statistics", timezone="UTC")).body
    assert len(week["per_day"]) == 14 and week["totals"]["total"] == 6
    assert week["per_day"][0]["total"] == 0 and week["per_day"][0]["average_wait_seconds"] is None
    assert (week["per_day"][0]["ratings"], week["per_day"][0]["average_rating"]) == (0, None)
    assert (week["totals"]["ratings"], week["totals"]["average_rating"]) == (3, round((4 + 5 + 1) / 3, 2))
    assert week["totals"]["transfers"] == 4


async def test_an_organisation_without_calls_gets_zeros_and_bad_days_are_422(
    server, backend: Backend
) -> None:
    lonely = await make_world(backend)
    admin = await as_staff(base_url(server), lonely, "admin")
    answer = await admin.get("/statistics", days="3")
    assert answer.status == 200
    assert [day["total"] for day in answer.body["per_day"]] == [0, 0, 0]
    assert answer.body["totals"]["max_wait_seconds"] is None
    assert (answer.body["totals"]["ratings"], answer.body["totals"]["average_rating"]) == (0, None)
    for days in ("0", "367", "-1", "week", "1.5"):
        bad = await admin.get("/statistics", days=days)
        assert bad.status == 422 and bad.error_code == "invalid_input", (days, bad.body)
    unknown = await admin.get("/statistics", since="2026-01-01")
    assert unknown.status == 422
    nowhere = await admin.get("/statistics", timezone="Mars/Olympus_Mons")
    assert nowhere.status == 422 and "time zone" in nowhere.body["error"]["message"]


async def test_days_are_the_organisations_days_in_its_queues_time_zone(server, backend: Backend) -> None:
    # UTC+14: a call at half past midnight there is on the day before in UTC.
    zone = ZoneInfo("Pacific/Kiritimati")
    world = await make_world(backend, timezone="Pacific/Kiritimati")
    today = datetime.now(zone).date()
    yesterday = today - timedelta(days=1)
    just_after_midnight = datetime.combine(yesterday, time(0, 30), tzinfo=zone).astimezone(UTC)
    just_before_midnight = datetime.combine(yesterday, time(23, 50), tzinfo=zone).astimezone(UTC)
    assert just_after_midnight.date() != yesterday
    await add_calls(
        backend,
        world,
        [(just_after_midnight, 30, CallStatus.ENDED), (just_before_midnight, 10, CallStatus.ABANDONED)],
    )
    supervisor = await as_staff(base_url(server), world, "supervisor")
    answer = await supervisor.get("/statistics", days="3")
    assert answer.status == 200, answer.body
    assert answer.body["timezone"] == "Pacific/Kiritimati"
    by_day = {day["day"]: day for day in answer.body["per_day"]}
    assert list(by_day) == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert (by_day[yesterday.isoformat()]["total"], by_day[yesterday.isoformat()]["abandoned"]) == (2, 1)
    assert by_day[yesterday.isoformat()]["average_wait_seconds"] == 20.0
    assert answer.body["totals"]["total"] == 2
    # The same calls seen in UTC fall on two days.
    utc = await supervisor.get("/statistics", days="3", timezone="UTC")
    assert sorted(day["total"] for day in utc.body["per_day"] if day["total"]) == [1, 1]
