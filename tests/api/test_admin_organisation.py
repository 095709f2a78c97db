"""``/api/v1/organisation``: the organisation's transcript redaction switch, turned by admins and
the DPO, audited each way, read by supervisors too; it decides whether the next transcript is
redacted. On both backend pairs, over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from accounts.models import Organisation
from db import create_engine, create_session_factory
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, World, base_url, make_world


async def redacts(backend: Backend, org_id: uuid.UUID) -> bool:
    """What the transcription job reads (``transcription.queries.call_media``)."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            value = await db.scalar(select(Organisation.redact_transcripts).where(Organisation.id == org_id))
            assert value is not None
            return value
    finally:
        await engine.dispose()


async def test_the_redaction_switch_is_turned_by_admins_and_the_dpo_and_each_change_is_audited(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    supervisor = await as_staff(url, world, "supervisor")
    shown = await supervisor.get("/organisation")
    assert shown.status == 200 and shown.body["id"] == str(world.org_id)
    assert shown.body["redact_transcripts"] is True, "on unless turned off"

    admin = await as_staff(url, world, "admin")
    off = await admin.patch("/organisation", {"redact_transcripts": False})
    assert off.status == 200 and off.body["redact_transcripts"] is False
    assert await redacts(backend, world.org_id) is False
    assert (await admin.patch("/organisation", {"redact_transcripts": False})).status == 200  # no change
    dpo = await as_staff(url, world, "dpo")
    on = await dpo.patch("/organisation", {"redact_transcripts": True})
    assert on.status == 200 and on.body["redact_transcripts"] is True
    assert await redacts(backend, world.org_id) is True

    events = [e for e in await dpo.audit_events(limit="200") if e["target"] == f"organisation:{world.org_id}"]
    # Newest first; the repeated "off" changed nothing and left no event.
    assert [(e["action"], e["actor"], e["details"]) for e in events] == [
        ("organisation.redaction_on", f"user:{dpo.user_id}", {"redact_transcripts": True}),
        ("organisation.redaction_off", f"user:{admin.user_id}", {"redact_transcripts": False}),
    ]


async def test_others_may_not_turn_it_and_bad_input_is_refused(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    for role in ("adviser", "supervisor"):
        staff = await as_staff(url, world, role)
        refused = await staff.patch("/organisation", {"redact_transcripts": False})
        assert refused.status == 403 and refused.error_code == "forbidden", (role, refused.body)
    adviser = await as_staff(url, world, "adviser")
    assert (await adviser.get("/organisation")).status == 403
    assert (await StaffApi(url, None, uuid.uuid4()).get("/organisation")).status == 401
    admin = await as_staff(url, world, "admin")
    for payload in ({}, {"redact_transcripts": "no"}, {"redact_transcripts": 0}, {"name": "x"}, [False]):
        answer = await admin.patch("/organisation", payload)
        assert answer.status == 422 and answer.error_code == "invalid_input", (payload, answer.body)
    # Another organisation's admin turns only their own switch.
    other = await make_world(backend)
    outsider = await as_staff(url, other, "admin")
    assert (await outsider.patch("/organisation", {"redact_transcripts": False})).body["id"] == str(
        other.org_id
    )
    assert await redacts(backend, world.org_id) is True
    openapi = await StaffApi(url, None, uuid.uuid4()).get("/openapi.json")
    operation = openapi.body["paths"]["/api/v1/organisation"]["patch"]
    assert operation["description"] == "Roles: admin, dpo"
