"""``GET /calls`` filters (queue, adviser, outcome, end reason, period), keyset paging, and the
CSV exports of calls and statistics: on both backend pairs (SQLite and PostgreSQL), over real
HTTP, against calls stored in the database."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

import api.routes.calls
from accounts import directory
from db import create_engine, create_session_factory
from signaling.models import Call, CallStatus
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, World, base_url

# 2026-03-01 22:30 UTC is 23:30 in Amsterdam (the queues' time zone), 23:30 UTC already 2 March.
LATE_ON_THE_FIRST = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
EARLY_ON_THE_SECOND = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


@dataclass
class Seeded:
    other_queue: uuid.UUID
    adviser: uuid.UUID
    colleague: uuid.UUID
    ids: dict[str, uuid.UUID]


async def _seed(backend: Backend, world: World, adviser: uuid.UUID, colleague: uuid.UUID) -> Seeded:
    """Five named calls, each one the only match of some filter."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            other = await directory.create_queue(
                db, org_id=world.org_id, actor="test", name="Service", languages=["nl"]
            )
            specs: dict[str, dict[str, Any]] = {
                "answered": {
                    "adviser_id": adviser,
                    "status": CallStatus.ENDED,
                    "end_reason": "visitor_left",
                    "created_at": LATE_ON_THE_FIRST,
                    "accepted_at": LATE_ON_THE_FIRST + timedelta(seconds=30),
                    "ended_at": LATE_ON_THE_FIRST + timedelta(minutes=5),
                },
                "colleagues": {
                    "adviser_id": colleague,
                    "status": CallStatus.ENDED,
                    "end_reason": "adviser_disconnected",
                    "created_at": EARLY_ON_THE_SECOND,
                    "accepted_at": EARLY_ON_THE_SECOND + timedelta(seconds=12),
                    "ended_at": EARLY_ON_THE_SECOND + timedelta(minutes=2),
                },
                "abandoned": {
                    "status": CallStatus.ABANDONED,
                    "end_reason": "visitor_disconnected",
                    "created_at": EARLY_ON_THE_SECOND + timedelta(hours=1),
                    "ended_at": EARLY_ON_THE_SECOND + timedelta(hours=1, seconds=40),
                },
                "other_queue": {
                    "queue_id": other.id,
                    "status": CallStatus.ABANDONED,
                    "end_reason": "visitor_left",
                    "created_at": EARLY_ON_THE_SECOND + timedelta(days=3),
                    "ended_at": EARLY_ON_THE_SECOND + timedelta(days=3, seconds=5),
                },
                "waiting": {
                    "status": CallStatus.WAITING,
                    "created_at": EARLY_ON_THE_SECOND + timedelta(days=4),
                },
            }
            ids: dict[str, uuid.UUID] = {}
            for name, spec in specs.items():
                call = Call(
                    org_id=world.org_id,
                    queue_id=spec.pop("queue_id", world.queue_id),
                    reference=secrets.token_hex(5),
                    visitor_id="visitor-" + secrets.token_hex(8),
                    context={"order": "A-17"},
                    **spec,
                )
                db.add(call)
                await db.flush()
                ids[name] = call.id
            await db.commit()
            return Seeded(other.id, adviser, colleague, ids)
    finally:
        await engine.dispose()


async def _names(api: StaffApi, seeded: Seeded, query: str) -> set[str]:
    answer = await api.get("/calls?limit=200&" + query)
    assert answer.status == 200, (query, answer.body)
    by_id = {str(call_id): name for name, call_id in seeded.ids.items()}
    return {by_id[row["id"]] for row in answer.body}


@pytest.fixture
async def seeded(world: World) -> Seeded:
    _, adviser = await world.add_user("adviser")
    _, colleague = await world.add_user("adviser")
    return await _seed(world.backend, world, adviser, colleague)


async def test_each_filter_selects_exactly_its_calls(server, world: World, seeded: Seeded) -> None:
    api = await as_staff(base_url(server), world, "supervisor")
    assert await _names(api, seeded, "") == set(seeded.ids)
    assert await _names(api, seeded, f"queue_id={seeded.other_queue}") == {"other_queue"}
    assert await _names(api, seeded, f"adviser_id={seeded.colleague}") == {"colleagues"}
    assert await _names(api, seeded, "outcome=abandoned") == {"abandoned", "other_queue"}
    assert await _names(api, seeded, "outcome=ended") == {"answered", "colleagues"}
    assert await _names(api, seeded, "end_reason=visitor_left") == {"answered", "other_queue"}
    assert await _names(api, seeded, "outcome=abandoned&end_reason=visitor_left") == {"other_queue"}
    # Filters combine with AND; none matching is an empty page, not an error.
    assert await _names(api, seeded, f"outcome=waiting&queue_id={seeded.other_queue}") == set()


async def test_bare_dates_are_days_of_the_organisation_and_to_includes_its_day(
    server, world: World, seeded: Seeded
) -> None:
    api = await as_staff(base_url(server), world, "admin")
    # 23:30 UTC on 1 March is 00:30 on 2 March in Amsterdam.
    assert await _names(api, seeded, "from=2026-03-02&to=2026-03-02") == {"colleagues", "abandoned"}
    assert await _names(api, seeded, "to=2026-03-01") == {"answered"}
    assert await _names(api, seeded, "from=2026-03-05") == {"other_queue", "waiting"}
    # Timestamps are taken as they are: from inclusive, to exclusive.
    since = quote(EARLY_ON_THE_SECOND.isoformat())
    until = quote((EARLY_ON_THE_SECOND + timedelta(hours=1)).isoformat())
    assert await _names(api, seeded, f"from={since}&to={until}") == {"colleagues"}


async def test_filtered_pages_follow_each_other_without_gaps(server, world: World, seeded: Seeded) -> None:
    api = await as_staff(base_url(server), world, "supervisor")
    whole = (await api.get("/calls?outcome=abandoned&limit=200")).body
    seen: list[str] = []
    query = "outcome=abandoned&limit=1"
    for _ in range(5):
        page = (await api.get("/calls?" + query)).body
        if not page:
            break
        assert len(page) == 1 and page[0]["status"] == "abandoned"
        seen.append(page[0]["id"])
        last = page[-1]
        query = f"outcome=abandoned&limit=1&before={quote(last['created_at'])}&before_id={last['id']}"
    assert seen == [row["id"] for row in whole] and len(seen) == 2


@pytest.mark.parametrize(
    "query",
    [
        "outcome=answered",
        "queue_id=sales",
        "adviser_id=42",
        "from=yesterday",
        "from=2026-03-02T10:00:00",  # no time zone: ambiguous
        "from=2026-03-05&to=2026-03-02",
        "end_reason=DROP%20TABLE",
        "before_id=" + str(uuid.UUID(int=1)),
        "format=xlsx",
        "colour=red",
    ],
)
async def test_a_bad_filter_is_refused_with_the_error_shape(server, world: World, query: str) -> None:
    api = await as_staff(base_url(server), world, "supervisor")
    answer = await api.get("/calls?" + query)
    assert answer.status == 422, (query, answer.body)
    assert answer.error_code == "invalid_input"


async def test_an_adviser_filters_only_their_own_calls_and_exports_nothing(
    server, world: World, seeded: Seeded
) -> None:
    api = await as_staff(base_url(server), world, "adviser")
    # The fixture's advisers are not this one: an adviser of their own sees none of them.
    assert await _names(api, seeded, "") == set()
    refused = await api.get(f"/calls?adviser_id={seeded.colleague}")
    assert refused.status == 403 and refused.error_code == "forbidden"
    export = await api.get("/calls?format=csv")
    assert export.status == 403 and export.error_code == "forbidden"


async def _csv(url: str, api: StaffApi, path: str) -> tuple[aiohttp.ClientResponse, list[dict[str, str]]]:
    headers = {"Authorization": f"Bearer {api.token}"}
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1{path}", headers=headers) as response:
        text = await response.text()
        assert response.status == 200, text
    return response, list(csv.DictReader(io.StringIO(text)))


async def test_the_csv_export_holds_the_filtered_calls_as_the_list_shows_them_and_is_audited(
    server, world: World, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two rows, so the export crosses page boundaries with four calls.
    monkeypatch.setattr(api.routes.calls, "EXPORT_PAGE", 2)
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    query = "to=2026-03-05"
    listed = (await admin.get(f"/calls?limit=200&{query}")).body
    response, rows = await _csv(url, admin, f"/calls?format=csv&{query}")
    assert response.content_type == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="calls-')
    assert [row["id"] for row in rows] == [call["id"] for call in listed]
    assert len(rows) == 4
    assert list(rows[0]) == list(api.routes.calls.CSV_COLUMNS)
    answered = next(row for row in rows if row["id"] == str(seeded.ids["answered"]))
    assert answered["adviser_id"] == str(seeded.adviser)
    assert answered["status"] == "ended" and answered["end_reason"] == "visitor_left"
    assert answered["waited_seconds"] == "30.0"
    assert datetime.fromisoformat(answered["created_at"]) == LATE_ON_THE_FIRST
    # Nothing about the visitor beyond the list's columns: no visitor id, no page context.
    raw = (await admin.get(f"/calls?format=csv&{query}")).body
    assert "visitor-" not in raw and "A-17" not in raw
    event = await admin.audit_event("calls.exported", f"organisation:{world.org_id}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"] == {"format": "csv", "filters": {"to": "2026-03-05"}}


async def _answered_an_hour_ago(world: World) -> None:
    engine = create_engine(world.backend.database_url)
    joined = datetime.now(UTC) - timedelta(hours=1)
    try:
        async with create_session_factory(engine)() as db:
            db.add(
                Call(
                    org_id=world.org_id,
                    queue_id=world.queue_id,
                    reference=secrets.token_hex(5),
                    visitor_id=secrets.token_hex(8),
                    status=CallStatus.ENDED,
                    created_at=joined,
                    accepted_at=joined + timedelta(seconds=20),
                    ended_at=joined + timedelta(minutes=3),
                )
            )
            await db.commit()
    finally:
        await engine.dispose()


async def test_the_statistics_csv_has_a_row_per_day_and_the_totals_and_is_audited(
    server, world: World, seeded: Seeded
) -> None:
    await _answered_an_hour_ago(world)
    url = base_url(server)
    supervisor = await as_staff(url, world, "supervisor")
    admin = await as_staff(url, world, "admin")
    params = "days=30&timezone=Europe/Amsterdam"
    figures = (await supervisor.get(f"/statistics?{params}")).body
    response, rows = await _csv(url, supervisor, f"/statistics?{params}&format=csv")
    assert response.content_type == "text/csv"
    assert len(rows) == 31
    assert [row["day"] for row in rows[:-1]] == [day["day"] for day in figures["per_day"]]
    totals = rows[-1]
    assert totals["day"] == "total"
    assert int(totals["total"]) == figures["totals"]["total"]
    assert int(totals["answered"]) == figures["totals"]["answered"] == 1
    expected_wait = figures["totals"]["average_wait_seconds"]
    assert totals["average_wait_seconds"] == ("" if expected_wait is None else str(expected_wait))
    event = await admin.audit_event("statistics.exported", f"organisation:{world.org_id}")
    assert event["actor"] == f"user:{supervisor.user_id}"
    assert event["details"] == {"format": "csv", "days": 30, "timezone": "Europe/Amsterdam"}
