"""``/api/v1/retention-rules``: admins set how long data is kept, the DPO reads it; every change
is audited and moves the deadlines at once; and a recording made through signalling gets its
deadline from its queue's rule. On both backend pairs, over real HTTP and socket.io."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db import create_engine, create_session_factory, utcnow
from privacy import recording_deadline
from recordings import Recording, create_recording
from signaling.models import Call
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, Client, World, base_url, make_world, paired

RULE_ROUTES = [
    ("GET", "/retention-rules"),
    ("POST", "/retention-rules"),
    ("PATCH", "/retention-rules/{rule_id}"),
    ("DELETE", "/retention-rules/{rule_id}"),
]


async def recording_in(backend: Backend, world: World, created_at: datetime) -> uuid.UUID:
    """A recording of a call in the world's queue, with its deadline set as signalling sets it."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = Call(
                org_id=world.org_id,
                queue_id=world.queue_id,
                reference=secrets.token_hex(6),
                visitor_id=secrets.token_hex(8),
            )
            db.add(call)
            await db.flush()
            deadline = await recording_deadline(db, call_id=call.id, created_at=created_at)
            row = await create_recording(
                db,
                call_id=call.id,
                participant="visitor",
                spool_path=Path("/nonexistent/x.webm"),
                delete_after=deadline,
                now=created_at,
            )
            await db.commit()
            return row.id
    finally:
        await engine.dispose()


async def deadline_of(backend: Backend, recording_id: uuid.UUID) -> datetime | None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            found: datetime | None = await db.scalar(
                select(Recording.delete_after).where(Recording.id == recording_id)
            )
            return found
    finally:
        await engine.dispose()


def days_after(deadline: datetime | None, created_at: datetime) -> float:
    assert deadline is not None
    return round((deadline - created_at) / timedelta(days=1), 3)


async def test_each_role_may_call_exactly_its_endpoints(server, world: World) -> None:
    url = base_url(server)
    apis = {role: await as_staff(url, world, role) for role in ("adviser", "supervisor", "admin", "dpo")}
    nobody = StaffApi(url, None, uuid.uuid4())
    allowed = {
        ("GET", "/retention-rules"): {"admin", "dpo"},
        ("POST", "/retention-rules"): {"admin"},
        ("PATCH", "/retention-rules/{rule_id}"): {"admin"},
        ("DELETE", "/retention-rules/{rule_id}"): {"admin"},
    }
    wrong = []
    for method, path in RULE_ROUTES:
        for role, api in apis.items():
            # A rule to act on, created afresh (the DELETE of an allowed role removes it).
            created = await apis["admin"].post("/retention-rules", {"kind": "chat", "days": 10})
            assert created.status == 201, created.body
            payload = {"kind": "transcripts", "days": 5} if method == "POST" else {"days": 20}
            answer = await api.request(method, path.format(rule_id=created.body["id"]), json=payload)
            if role in allowed[(method, path)]:
                if not 200 <= answer.status < 300:
                    wrong.append(f"{role} {method} {path}: {answer.status} {answer.body}")
            elif answer.status != 403 or answer.error_code != "forbidden":
                wrong.append(f"{role} {method} {path}: {answer.status}, expected 403")
            assert (await nobody.request(method, path.format(rule_id=created.body["id"]))).status == 401
            for rule in (await apis["admin"].get("/retention-rules")).body:
                assert (await apis["admin"].delete(f"/retention-rules/{rule['id']}")).status == 204
    assert not wrong, "\n".join(wrong)
    document = (await nobody.get("/openapi.json")).body["paths"]
    assert document["/api/v1/retention-rules"]["get"]["description"] == "Roles: admin, dpo"
    assert document["/api/v1/retention-rules/{rule_id}"]["patch"]["description"] == "Roles: admin"


async def test_rules_are_audited_and_move_the_deadlines_of_the_recordings_they_govern(
    server, world: World, backend: Backend
) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    created_at = utcnow() - timedelta(days=2)
    recording_id = await recording_in(backend, world, created_at)
    assert days_after(await deadline_of(backend, recording_id), created_at) == 30  # the built-in default

    org_rule = await admin.post("/retention-rules", {"kind": "recordings", "days": 14})
    assert org_rule.status == 201, org_rule.body
    assert org_rule.body["queue_id"] is None and org_rule.body["days"] == 14
    assert days_after(await deadline_of(backend, recording_id), created_at) == 14
    queue_rule = await admin.post(
        "/retention-rules", {"kind": "recordings", "days": 60, "queue_id": str(world.queue_id)}
    )
    assert queue_rule.status == 201, queue_rule.body
    assert days_after(await deadline_of(backend, recording_id), created_at) == 60  # later

    changed = await admin.patch(f"/retention-rules/{queue_rule.body['id']}", {"days": 3})
    assert changed.status == 200 and changed.body["days"] == 3
    assert changed.body["updated_at"] > queue_rule.body["updated_at"]
    assert days_after(await deadline_of(backend, recording_id), created_at) == 3  # earlier

    listed = await admin.get("/retention-rules")
    assert {(r["kind"], r["queue_id"], r["days"]) for r in listed.body} == {
        ("recordings", None, 14),
        ("recordings", str(world.queue_id), 3),
    }
    assert (await admin.delete(f"/retention-rules/{queue_rule.body['id']}")).status == 204
    assert days_after(await deadline_of(backend, recording_id), created_at) == 14  # the org's rule
    assert (await admin.delete(f"/retention-rules/{org_rule.body['id']}")).status == 204
    assert days_after(await deadline_of(backend, recording_id), created_at) == 30  # the default
    assert (await admin.get("/retention-rules")).body == []

    actor = f"user:{admin.user_id}"
    create = await admin.audit_event("retention_rule.create", f"retention_rule:{queue_rule.body['id']}")
    assert create["actor"] == actor
    assert create["details"] == {
        "kind": "recordings",
        "queue_id": str(world.queue_id),
        "days": 60,
        "rescheduled": 1,
    }
    update = await admin.audit_event("retention_rule.update", f"retention_rule:{queue_rule.body['id']}")
    assert update["actor"] == actor and update["details"]["days"] == {"from": 60, "to": 3}
    delete = await admin.audit_event("retention_rule.delete", f"retention_rule:{org_rule.body['id']}")
    assert delete["actor"] == actor and delete["details"]["days"] == 14


async def test_another_organisation_gets_404_and_never_sees_or_uses_the_rules(
    server, world: World, backend: Backend
) -> None:
    url = base_url(server)
    admin_a = await as_staff(url, world, "admin")
    rule = await admin_a.post("/retention-rules", {"kind": "chat", "days": 9})
    assert rule.status == 201
    other = await make_world(backend)
    admin_b = await as_staff(url, other, "admin")
    dpo_b = await as_staff(url, other, "dpo")

    missing = uuid.uuid4()
    answers = {
        "patch": await admin_b.patch(f"/retention-rules/{rule.body['id']}", {"days": 1}),
        "delete": await admin_b.delete(f"/retention-rules/{rule.body['id']}"),
        "made up": await admin_b.patch(f"/retention-rules/{missing}", {"days": 1}),
        "not a uuid": await admin_b.delete("/retention-rules/chat"),
    }
    for what, answer in answers.items():
        assert answer.status == 404 and answer.error_code == "not_found", (what, answer.body)
    foreign = answers["patch"].body["error"]["message"].replace(rule.body["id"], "ID")
    assert foreign == answers["made up"].body["error"]["message"].replace(str(missing), "ID")
    assert (await admin_b.get("/retention-rules")).body == []
    assert (await dpo_b.get("/retention-rules")).body == []
    # A's queue is not B's to govern.
    theirs = await admin_b.post(
        "/retention-rules", {"kind": "chat", "days": 2, "queue_id": str(world.queue_id)}
    )
    assert theirs.status == 422 and "queue_id" in theirs.body["error"]["message"]
    # And A's rule is untouched.
    assert [(r["id"], r["days"]) for r in (await admin_a.get("/retention-rules")).body] == [
        (rule.body["id"], 9)
    ]


async def test_bad_rules_are_422_or_409_and_change_nothing(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    existing = await admin.post("/retention-rules", {"kind": "transcripts", "days": 30})
    assert existing.status == 201
    path = f"/retention-rules/{existing.body['id']}"
    before = len(await admin.audit_events(limit="200"))
    bad: list[tuple[str, str, Any, str]] = [
        ("POST", "/retention-rules", {"kind": "recordings", "days": 0}, "days"),
        ("POST", "/retention-rules", {"kind": "recordings", "days": 3651}, "days"),
        ("POST", "/retention-rules", {"kind": "recordings", "days": "30"}, "days"),
        ("POST", "/retention-rules", {"kind": "recordings", "days": 1.5}, "days"),
        ("POST", "/retention-rules", {"kind": "recordings", "days": True}, "days"),
        ("POST", "/retention-rules", {"days": 30}, "kind"),
        ("POST", "/retention-rules", {"kind": "emails", "days": 30}, "kind"),
        ("POST", "/retention-rules", {"kind": "access_log", "days": 3}, "LOKET_ACCESS_LOG_DAYS"),
        ("POST", "/retention-rules", {"kind": "chat", "days": 3, "colour": "red"}, "colour"),
        ("POST", "/retention-rules", {"kind": "chat", "days": 3, "queue_id": "sales"}, "queue_id"),
        ("POST", "/retention-rules", {"kind": "chat", "days": 3, "queue_id": str(uuid.uuid4())}, "queue_id"),
        ("PATCH", path, {}, "days"),
        ("PATCH", path, {"days": None}, "days"),
        ("PATCH", path, {"days": 10, "kind": "chat"}, "kind"),
    ]
    for method, where, payload, mentions in bad:
        answer = await admin.request(method, where, json=payload)
        assert answer.status == 422, (payload, answer.body)
        assert answer.error_code == "invalid_input" and mentions in answer.body["error"]["message"], (
            answer.body
        )
    taken = await admin.post("/retention-rules", {"kind": "transcripts", "days": 5, "queue_id": None})
    assert taken.status == 409 and taken.error_code == "retention_rule_exists"
    assert len(await admin.audit_events(limit="200")) == before
    assert (await admin.get("/retention-rules")).body == [existing.body]


async def test_a_recording_started_through_signalling_gets_its_deadline_from_the_queue_rule(
    server, backend: Backend, clients: list[Client]
) -> None:
    world = await make_world(backend, recording_policy="ask")
    admin = await as_staff(base_url(server), world, "admin")
    assert (await admin.post("/retention-rules", {"kind": "recordings", "days": 12})).status == 201
    rule = {"kind": "recordings", "days": 45, "queue_id": str(world.queue_id)}
    assert (await admin.post("/retention-rules", rule)).status == 201
    visitor, adviser, joined = await paired(server, world, clients)
    assert (await visitor.call("consent:set", {"recording": True, "text_id": "recording-v1"}))["ok"]
    assert (await adviser.call("recording:start"))["ok"]

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = list(
                await db.scalars(select(Recording).where(Recording.call_id == uuid.UUID(joined["call_id"])))
            )
    finally:
        await engine.dispose()
    assert len(rows) == 2
    assert {days_after(row.delete_after, row.created_at) for row in rows} == {45}
    assert (await adviser.call("call:end"))["ok"]
