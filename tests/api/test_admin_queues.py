"""``/api/v1/queues``: admins create, change and delete queues; every staff member lists them."""

from __future__ import annotations

from tests.api.test_admin_api import as_staff
from tests.conftest import World, base_url, visitor_session

HOURS = {"mon": [["09:00", "17:30"]], "sat": [["10:00", "13:00"]]}


async def test_an_admin_creates_a_queue_that_staff_list_and_visitors_are_offered(
    server, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    created = await admin.post(
        "/queues",
        {
            "name": "  Service desk ",
            "languages": ["NL", "de", "nl"],
            "opening_hours": HOURS,
            "timezone": "Europe/Berlin",
            "recording_policy": "ask",
            "transcription": True,
        },
    )
    assert created.status == 201, created.body
    queue = created.body
    assert queue["name"] == "Service desk"
    assert queue["languages"] == ["nl", "de"]
    assert queue["opening_hours"] == HOURS
    assert (queue["timezone"], queue["recording_policy"], queue["transcription"]) == (
        "Europe/Berlin",
        "ask",
        True,
    )

    adviser = await as_staff(url, world, "adviser")
    listed = await adviser.get("/queues")
    assert listed.status == 200
    assert {q["id"]: q for q in listed.body}[queue["id"]] == queue
    offered = await visitor_session(url, world)
    assert queue["id"] in {q["id"] for q in offered["queues"]}

    event = await admin.audit_event("queue.create", f"queue:{queue['id']}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"]["name"] == "Service desk" and event["details"]["recording_policy"] == "ask"


async def test_a_queue_gets_defaults_for_what_the_admin_leaves_out(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    created = await admin.post("/queues", {"name": "Sales 2"})
    assert created.status == 201, created.body
    assert created.body["languages"] == []
    assert created.body["opening_hours"] is None
    assert created.body["timezone"] == "Europe/Amsterdam"
    assert (created.body["recording_policy"], created.body["transcription"]) == ("off", False)


async def test_a_patch_changes_only_the_fields_sent_and_is_audited(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    before = {q["id"]: q for q in (await admin.get("/queues")).body}[str(world.queue_id)]

    changed = await admin.patch(
        f"/queues/{world.queue_id}", {"recording_policy": "ask", "opening_hours": HOURS}
    )
    assert changed.status == 200, changed.body
    assert changed.body == {**before, "recording_policy": "ask", "opening_hours": HOURS}
    event = await admin.audit_event("queue.update", f"queue:{world.queue_id}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"] == {"recording_policy": "ask", "opening_hours": HOURS}

    # null opening hours means "always open" again; it is the one field that may be null.
    reopened = await admin.patch(f"/queues/{world.queue_id}", {"opening_hours": None})
    assert reopened.status == 200 and reopened.body["opening_hours"] is None
    listed = {q["id"]: q for q in (await admin.get("/queues")).body}[str(world.queue_id)]
    assert listed == {**before, "recording_policy": "ask"}


async def test_an_empty_patch_changes_nothing_and_writes_no_audit_event(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    count = len(await admin.audit_events(limit="200"))
    answer = await admin.patch(f"/queues/{world.queue_id}", {})
    assert answer.status == 200 and answer.body["name"] == "Sales"
    assert len(await admin.audit_events(limit="200")) == count


async def test_deleting_a_queue_removes_it_audits_it_and_a_second_delete_is_404(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    answer = await admin.delete(f"/queues/{world.queue_id}")
    assert answer.status == 204, answer.body
    assert answer.body == ""
    assert (await admin.get("/queues")).body == []
    assert (await visitor_session(url, world))["queues"] == []
    event = await admin.audit_event("queue.delete", f"queue:{world.queue_id}")
    assert event["actor"] == f"user:{admin.user_id}" and event["details"] == {"name": "Sales"}

    again = await admin.delete(f"/queues/{world.queue_id}")
    assert again.status == 404 and again.error_code == "not_found"
    patched = await admin.patch(f"/queues/{world.queue_id}", {"name": "Back"})
    assert patched.status == 404


async def test_a_queue_that_is_some_advisers_only_queue_cannot_be_deleted_until_they_are_reassigned(
    server, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    spare = await admin.post("/queues", {"name": "Spare"})
    assert spare.status == 201, spare.body
    _, adviser_id = await world.add_user("adviser", queue_ids=[world.queue_id])

    # Deleting it would leave the adviser with no assignment, which means "every queue".
    refused = await admin.request("DELETE", f"/queues/{world.queue_id}")
    assert refused.status == 409
    assert refused.error_code == "queue_has_advisers"

    assert (
        await admin.patch(f"/users/{adviser_id}", {"queue_ids": [str(world.queue_id), spare.body["id"]]})
    ).status == 200
    assert (await admin.request("DELETE", f"/queues/{world.queue_id}")).status == 204


async def test_closing_days_and_the_maximum_wait_are_checked_normalised_and_cleared(
    server, world: World
) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    path = f"/queues/{world.queue_id}"
    for bad in (
        {"closing_days": ["2026-02-30"]},
        {"closing_days": ["25-12-2026"]},
        {"closing_days": "2026-12-25"},
        {"max_wait_seconds": 0},
        {"max_wait_seconds": 86401},
        {"max_wait_seconds": 1.5},
    ):
        refused = await admin.patch(path, bad)
        assert 400 <= refused.status < 500 and refused.error_code, (bad, refused.body)

    changed = await admin.patch(
        path, {"closing_days": ["2026-12-26", "2026-12-25", "2026-12-25"], "max_wait_seconds": 600}
    )
    assert changed.status == 200, changed.body
    assert (changed.body["closing_days"], changed.body["max_wait_seconds"]) == (
        ["2026-12-25", "2026-12-26"],
        600,
    )
    # null lifts the limit; an empty list opens every closing day again.
    cleared = await admin.patch(path, {"closing_days": [], "max_wait_seconds": None})
    assert (cleared.body["closing_days"], cleared.body["max_wait_seconds"]) == ([], None)
