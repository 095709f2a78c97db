"""``/api/v1/audit-events``: the organisation's hash-chained trail for admins and the DPO."""

from __future__ import annotations

import re

from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, World, base_url, make_world

HEX64 = re.compile(r"^[0-9a-f]{64}$")


async def test_the_dpo_reads_the_trail_newest_first_with_every_field(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    dpo = await as_staff(url, world, "dpo")
    created = await admin.post("/queues", {"name": "Claims"})
    assert created.status == 201

    events = await dpo.audit_events()
    assert events, "the DPO sees the organisation's events"
    newest = events[0]
    assert set(newest) == {"seq", "occurred_at", "actor", "action", "target", "details", "hash", "prev_hash"}
    assert (newest["action"], newest["target"]) == ("queue.create", f"queue:{created.body['id']}")
    assert newest["actor"] == f"user:{admin.user_id}"
    assert HEX64.match(newest["hash"]) and HEX64.match(newest["prev_hash"])
    seqs = [event["seq"] for event in events]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    # The logins of both staff members are on the trail too.
    logins = {event["target"] for event in events if event["action"] == "auth.login"}
    assert {f"user:{admin.user_id}", f"user:{dpo.user_id}"} <= logins


async def test_the_trail_is_paged_with_limit_and_before_seq(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    for name in ("A", "B", "C"):
        assert (await admin.post("/queues", {"name": name})).status == 201
    everything = await admin.audit_events(limit="200")
    assert len(everything) >= 5

    page_1 = await admin.audit_events(limit="2")
    assert page_1 == everything[:2]
    page_2 = await admin.audit_events(limit="2", before_seq=str(page_1[-1]["seq"]))
    assert page_2 == everything[2:4]
    last = await admin.audit_events(before_seq=str(everything[-1]["seq"]))
    assert last == []


async def test_the_trail_holds_only_the_organisations_own_events(
    server, world: World, backend: Backend
) -> None:
    url = base_url(server)
    admin_a = await as_staff(url, world, "admin")
    other = await make_world(backend)
    admin_b = await as_staff(url, other, "admin")
    assert (await admin_b.post("/queues", {"name": "B only"})).status == 201

    seen_by_a = await admin_a.audit_events(limit="200")
    assert seen_by_a and all(f"user:{admin_b.user_id}" not in str(event) for event in seen_by_a)
    assert f"org:{world.org_id}" in {event["target"] for event in seen_by_a}
    seen_by_b = await admin_b.audit_events(limit="200")
    assert f"org:{world.org_id}" not in {event["target"] for event in seen_by_b}
    assert f"org:{other.org_id}" in {event["target"] for event in seen_by_b}


async def test_bad_paging_parameters_are_422(server, world: World) -> None:
    dpo = await as_staff(base_url(server), world, "dpo")
    for params, mentions in [
        ({"limit": "-1"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"before_seq": "0"}, "before_seq"),
        ({"before_seq": "latest"}, "before_seq"),
        ({"before": "2026-01-01T00:00:00Z"}, "before"),
    ]:
        answer = await dpo.get("/audit-events", **params)
        assert answer.status == 422, (params, answer.body)
        assert answer.error_code == "invalid_input" and mentions in answer.body["error"]["message"]
