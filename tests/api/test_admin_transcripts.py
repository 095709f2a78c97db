"""``/api/v1/transcripts/{id}``: supervisors, admins and the DPO read a call's transcript (JSON or
WebVTT), each read audited; advisers may not; another organisation's transcript is not found.
``/api/v1/calls`` rows name their transcript. On both backend pairs, over real HTTP."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import aiohttp
from sqlalchemy import insert

from db import create_engine, create_session_factory, utcnow
from signaling.models import Call, CallStatus
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, World, base_url, make_world
from transcription.models import Transcript, TranscriptStatus

SEGMENTS = [
    {"start": 0.5, "end": 2.0, "speaker": "Adviser", "text": "How can I help?", "avg_logprob": -0.2},
    {"start": 2.5, "end": 4.0, "speaker": "Visitor", "text": "Call me on [PHONE].", "no_speech_prob": 0.01},
]
VTT = "WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.000\n<v Adviser>How can I help?</v>\n"


async def add_transcript(
    backend: Backend, world: World, *, status: str = TranscriptStatus.DONE
) -> dict[str, Any]:
    """An ended call of ``world`` with its transcript, as the transcription job leaves it."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = Call(
                org_id=world.org_id,
                queue_id=world.queue_id,
                reference=secrets.token_hex(6),
                visitor_id=secrets.token_hex(8),
                status=CallStatus.ENDED,
                ended_at=utcnow(),
            )
            db.add(call)
            await db.flush()
            transcript_id = uuid.uuid4()
            done = status == TranscriptStatus.DONE
            await db.execute(
                insert(Transcript).values(
                    id=transcript_id,
                    call_id=call.id,
                    status=status,
                    language="en",
                    model="tiny.en" if done else None,
                    segments=SEGMENTS if done else None,
                    vtt=VTT if done else None,
                    redacted=done,
                    attempts=0 if done else 1,
                    legal_hold=False,
                    created_at=utcnow(),
                    completed_at=utcnow() if done else None,
                )
            )
            await db.commit()
            return {"call_id": str(call.id), "transcript_id": str(transcript_id)}
    finally:
        await engine.dispose()


async def test_supervisors_admins_and_the_dpo_read_a_transcript_and_each_read_is_audited(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    ids = await add_transcript(backend, world)
    path = f"/transcripts/{ids['transcript_id']}"
    for role in ("supervisor", "admin", "dpo"):
        staff = await as_staff(url, world, role)
        answer = await staff.get(path)
        assert answer.status == 200, (role, answer.body)
        assert answer.body["id"] == ids["transcript_id"] and answer.body["call_id"] == ids["call_id"]
        assert answer.body["status"] == "done" and answer.body["redacted"] is True
        assert answer.body["segments"] == [
            {"start": 0.5, "end": 2.0, "speaker": "Adviser", "text": "How can I help?"},
            {"start": 2.5, "end": 4.0, "speaker": "Visitor", "text": "Call me on [PHONE]."},
        ]
    admin = await as_staff(url, world, "admin")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{url}/api/v1{path}",
            params={"format": "vtt"},
            headers={"Authorization": f"Bearer {admin.token}"},
        ) as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/vtt"
        assert await response.text() == VTT
    reads = [
        event
        for event in await admin.audit_events(limit="200")
        if event["action"] == "transcript.read" and event["target"] == f"transcript:{ids['transcript_id']}"
    ]
    # Newest first: the admin's WebVTT read, then the JSON reads of the dpo, admin and supervisor.
    assert [event["details"]["format"] for event in reads] == ["vtt", "json", "json", "json"]
    assert reads[0]["actor"] == f"user:{admin.user_id}"
    assert all(
        event["details"] == {"call_id": ids["call_id"], "format": event["details"]["format"]}
        for event in reads
    )


async def test_advisers_may_not_and_another_organisations_transcript_is_not_found(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    ids = await add_transcript(backend, world)
    adviser = await as_staff(url, world, "adviser")
    forbidden = await adviser.get(f"/transcripts/{ids['transcript_id']}")
    assert forbidden.status == 403 and forbidden.error_code == "forbidden"
    anonymous = StaffApi(url, None, uuid.uuid4())
    assert (await anonymous.get(f"/transcripts/{ids['transcript_id']}")).status == 401

    other_world = await make_world(backend)
    outsider = await as_staff(url, other_world, "admin")
    for transcript in (ids["transcript_id"], str(uuid.uuid4()), "not-a-uuid"):
        answer = await outsider.get(f"/transcripts/{transcript}")
        assert answer.status == 404 and answer.error_code == "not_found", answer.body
    admin = await as_staff(url, world, "admin")
    bad = await admin.get(f"/transcripts/{ids['transcript_id']}", format="pdf")
    assert bad.status == 422 and bad.error_code == "invalid_input"
    # Not found is not audited as a read; the refused format neither.
    events = await outsider.audit_events(limit="200")
    assert not [event for event in events if event["action"] == "transcript.read"]
    assert not [
        event for event in await admin.audit_events(limit="200") if event["action"] == "transcript.read"
    ]


async def test_a_pending_transcript_has_no_webvtt_yet_and_calls_name_their_transcript(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    pending = await add_transcript(backend, world, status=TranscriptStatus.PENDING)
    done = await add_transcript(backend, world)
    supervisor = await as_staff(url, world, "supervisor")
    answer = await supervisor.get(f"/transcripts/{pending['transcript_id']}")
    assert answer.status == 200 and answer.body["status"] == "pending" and answer.body["segments"] is None
    not_ready = await supervisor.get(f"/transcripts/{pending['transcript_id']}", format="vtt")
    assert not_ready.status == 409 and not_ready.error_code == "not_ready"
    calls = await supervisor.get("/calls")
    assert calls.status == 200, calls.body
    by_id = {row["id"]: row for row in calls.body}
    assert by_id[pending["call_id"]]["transcript_id"] == pending["transcript_id"]
    assert by_id[pending["call_id"]]["transcript_status"] == "pending"
    assert by_id[done["call_id"]]["transcript_status"] == "done"
    openapi = await StaffApi(url, None, uuid.uuid4()).get("/openapi.json")
    operation = openapi.body["paths"]["/api/v1/transcripts/{transcript_id}"]["get"]
    assert operation["description"] == "Roles: admin, dpo, supervisor"


async def test_legal_hold_on_a_transcript_is_set_and_released_by_admins_and_the_dpo_with_audit(
    server: Any, world: World, backend: Backend
) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from privacy import sweep_expired_call_data

    url = base_url(server)
    ids = await add_transcript(backend, world)
    path = f"/transcripts/{ids['transcript_id']}"
    target = f"transcript:{ids['transcript_id']}"
    dpo = await as_staff(url, world, "dpo")
    held = await dpo.patch(path, {"legal_hold": True})
    assert held.status == 200 and held.body["legal_hold"] is True and held.body["id"] == ids["transcript_id"]
    assert (await dpo.patch(path, {"legal_hold": True})).status == 200  # no change, no second event

    # The hold is what retention obeys: past its deadline, a held transcript stays.
    engine = create_engine(backend.database_url)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as db:
            await db.execute(
                update(Transcript)
                .where(Transcript.id == uuid.UUID(ids["transcript_id"]))
                .values(delete_after=utcnow() - timedelta(days=1))
            )
            await db.commit()
        await sweep_expired_call_data(sessions)
        async with sessions() as db:
            kept = await db.scalar(
                select(Transcript.id).where(Transcript.id == uuid.UUID(ids["transcript_id"]))
            )
        assert kept is not None

        admin = await as_staff(url, world, "admin")
        released = await admin.patch(path, {"legal_hold": False})
        assert released.status == 200 and released.body["legal_hold"] is False
        await sweep_expired_call_data(sessions)
        async with sessions() as db:
            gone = await db.scalar(
                select(Transcript.id).where(Transcript.id == uuid.UUID(ids["transcript_id"]))
            )
        assert gone is None
    finally:
        await engine.dispose()

    events = [e for e in await admin.audit_events(limit="200") if e["target"] == target]
    holds = [e for e in events if "legal_hold" in e["action"]]
    # Newest first: released by the admin, set by the DPO (once).
    assert [(e["action"], e["actor"]) for e in holds] == [
        ("transcript.legal_hold_released", f"user:{admin.user_id}"),
        ("transcript.legal_hold_set", f"user:{dpo.user_id}"),
    ]
    assert holds[1]["details"] == {"call_id": ids["call_id"], "legal_hold": True}


async def test_only_admins_and_the_dpo_may_hold_a_transcript_and_only_their_own_organisations(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    ids = await add_transcript(backend, world)
    path = f"/transcripts/{ids['transcript_id']}"
    for role in ("adviser", "supervisor"):
        staff = await as_staff(url, world, role)
        refused = await staff.patch(path, {"legal_hold": True})
        assert refused.status == 403 and refused.error_code == "forbidden", (role, refused.body)
    outsider = await as_staff(url, await make_world(backend), "dpo")
    assert (await outsider.patch(path, {"legal_hold": True})).status == 404
    dpo = await as_staff(url, world, "dpo")
    for payload in ({}, {"legal_hold": "yes"}, {"legal_hold": 1}, {"legal_hold": True, "segments": []}, [1]):
        answer = await dpo.patch(path, payload)
        assert answer.status == 422 and answer.error_code == "invalid_input", (payload, answer.body)
    assert (await dpo.get(path)).body["legal_hold"] is False
    assert not [e for e in await dpo.audit_events(limit="200") if "legal_hold" in e["action"]]


async def test_the_list_shows_how_transcripts_are_kept_but_not_what_was_said_and_is_not_audited(
    server: Any, world: World, backend: Backend
) -> None:
    url = base_url(server)
    older = await add_transcript(backend, world)
    newer = await add_transcript(backend, world, status=TranscriptStatus.PENDING)
    await add_transcript(backend, await make_world(backend))  # another organisation's
    supervisor = await as_staff(url, world, "supervisor")
    listed = await supervisor.get("/transcripts")
    assert listed.status == 200, listed.body
    assert [row["id"] for row in listed.body] == [newer["transcript_id"], older["transcript_id"]]
    first = listed.body[1]
    assert set(first) == {
        *("id", "call_id", "reference", "status", "language", "model", "redacted", "legal_hold"),
        *("created_at", "completed_at", "delete_after"),
    }
    assert (first["status"], first["model"], first["legal_hold"]) == ("done", "tiny.en", False)
    page = await supervisor.get("/transcripts", limit="1", before=listed.body[0]["created_at"])
    assert [row["id"] for row in page.body] == [older["transcript_id"]]
    adviser = await as_staff(url, world, "adviser")
    assert (await adviser.get("/transcripts")).status == 403
    admin = await as_staff(url, world, "admin")
    assert not [e for e in await admin.audit_events(limit="200") if e["action"] == "transcript.read"]
