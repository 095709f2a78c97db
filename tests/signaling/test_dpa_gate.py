"""The DPA gate in a real call and over REST: recording (and turning transcription on) is refused
with 409 ``dpa_not_accepted`` until a dpo of the organisation accepts the current DPA, allowed
after, and refused again once a new version is published. Acceptance is audited."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts import directory
from db import create_engine, create_session_factory
from db.audit import AuditEvent
from privacy import DpaText, publish_dpa
from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, Client, World, base_url, paired
from tests.signaling.conftest import Peer


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """A database of this test's own: it publishes a DPA version every later test would see."""
    return Backend("embedded", f"sqlite+aiosqlite:///{tmp_path / 'dpa.db'}", tmp_path)


async def world_without_dpa(backend: Backend) -> World:
    """An organisation whose dpo has accepted nothing yet, with a queue that asks to record."""
    engine = create_engine(backend.database_url)
    origin = f"https://shop-{secrets.token_hex(3)}.example"
    try:
        async with create_session_factory(engine)() as db:
            org = await directory.create_org(db, name="Garage Zonder DPA", actor="test")
            queue = await directory.create_queue(
                db, org_id=org.id, actor="test", name="Sales", languages=["nl"], recording_policy="ask"
            )
            key = await directory.create_widget_key(db, org_id=org.id, origins=[origin], actor="test")
            await db.commit()
            return World(org.id, queue.id, key.key, origin, backend)
    finally:
        await engine.dispose()


async def publish(backend: Backend, dpa: DpaText) -> None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine, keys=backend.settings().installation_keys())() as db:
            await publish_dpa(db, dpa)
            await db.commit()
    finally:
        await engine.dispose()


async def test_recording_waits_for_the_dpo_to_accept_the_current_dpa_and_again_after_a_new_version(
    server, backend: Backend, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    url = base_url(server)
    world = await world_without_dpa(backend)
    admin = await as_staff(url, world, "admin")
    dpo = await as_staff(url, world, "dpo")
    visitor, adviser, _ = await paired(server, world, clients)
    visitor_peer, adviser_peer = new_peer(), new_peer()
    await visitor_peer.offer_through(visitor)
    await adviser_peer.offer_through(adviser)
    consented = await visitor.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented

    # Before: refused in the call and in the queue settings, and the console can say why and who.
    refused = await adviser.call("recording:start")
    assert refused["error"]["code"] == "dpa_not_accepted", refused
    assert "dpo" in refused["error"]["message"]
    state = await admin.get("/organisation/dpa")
    assert state.status == 200, state.body
    assert (
        state.body["accepted"],
        state.body["recording_and_transcription"],
        state.body["accepted_by_role"],
    ) == (
        None,
        False,
        "dpo",
    )
    version, sha256 = state.body["version"], state.body["sha256"]
    assert len(sha256) == 64 and state.body["text"]
    turned_on = await admin.patch(f"/queues/{world.queue_id}", {"transcription": True})
    assert (turned_on.status, turned_on.error_code) == (409, "dpa_not_accepted")
    new_queue = await admin.post(
        "/queues", {"name": "Service", "languages": ["nl"], "recording_policy": "ask"}
    )
    assert (new_queue.status, new_queue.error_code) == (409, "dpa_not_accepted")

    # Only a dpo accepts, and only the text they were shown.
    not_dpo = await admin.post("/organisation/dpa/acceptance", {"version": version, "sha256": sha256})
    assert not_dpo.status == 403
    other_text = await dpo.post("/organisation/dpa/acceptance", {"version": version, "sha256": "0" * 64})
    assert (other_text.status, other_text.error_code) == (409, "dpa_version_mismatch")
    accepted = await dpo.post("/organisation/dpa/acceptance", {"version": version, "sha256": sha256})
    assert accepted.status == 201, accepted.body
    assert accepted.body["recording_and_transcription"] is True
    assert accepted.body["accepted"]["accepted_by"] == str(dpo.user_id)
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            [event] = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "dpa.accepted")))
    finally:
        await engine.dispose()
    assert (event.actor, event.org_id, event.target) == (
        f"user:{dpo.user_id}",
        world.org_id,
        f"dpa:{version}",
    )
    assert (event.details["version"], event.details["sha256"]) == (version, sha256)
    assert event.details["accepted_at"]

    # After: allowed.
    started = await adviser.call("recording:start")
    assert started["ok"], started
    assert (await adviser.call("recording:stop"))["ok"]
    assert (await admin.patch(f"/queues/{world.queue_id}", {"transcription": True})).status == 200

    # A new version: refused again until accepted again.
    await publish(backend, DpaText("2027-01", "Data processing agreement, version 2027-01: new terms."))
    again = await adviser.call("recording:start")
    assert again["error"]["code"] == "dpa_not_accepted", again
    state = await dpo.get("/organisation/dpa")
    assert (state.body["version"], state.body["accepted"]) == ("2027-01", None)
    assert (await admin.patch(f"/queues/{world.queue_id}", {"recording_policy": "ask"})).error_code == (
        "dpa_not_accepted"
    )
    accepted = await dpo.post(
        "/organisation/dpa/acceptance", {"version": "2027-01", "sha256": state.body["sha256"]}
    )
    assert accepted.status == 201
    assert (await adviser.call("recording:start"))["ok"]
