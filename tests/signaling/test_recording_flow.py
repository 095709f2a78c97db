"""Recording through signalling: only where the queue asks and the visitor consented, both
parties told, stopped at once on withdrawal, then encrypted and stored by the worker."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from db import create_engine, create_session_factory
from recordings import Recording, fetch_recording, retry_pending_uploads, storage_from_config
from signaling.consent import TEXTS
from signaling.models import Consent
from tests.conftest import Backend, Client, World, make_world, paired
from tests.signaling.conftest import Peer

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def rows(backend: Backend, model: type, call_id: str) -> list:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return list(await db.scalars(select(model).where(model.call_id == uuid.UUID(call_id))))
    finally:
        await engine.dispose()


async def test_a_consented_call_is_recorded_per_party_stopped_on_withdrawal_and_stored_encrypted(
    server, backend: Backend, clients: list[Client], new_peer: Callable[[], Peer], tmp_path: Path
) -> None:
    world = await make_world(backend, recording_policy="ask")
    visitor, adviser, joined = await paired(server, world, clients)
    visitor_peer, adviser_peer = new_peer(), new_peer()
    await visitor_peer.offer_through(visitor)
    await adviser_peer.offer_through(adviser)
    await visitor_peer.first_video_within(5)
    await adviser_peer.first_video_within(5)

    refused = await adviser.call("recording:start")
    assert refused["error"]["code"] == "no_consent"
    assert await rows(backend, Recording, joined["call_id"]) == []  # not one byte before consent

    consented = await visitor.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    [answer] = await rows(backend, Consent, joined["call_id"])
    assert answer.granted and answer.language == "nl" and answer.party == "visitor"
    assert answer.text_hash == hashlib.sha256(TEXTS["recording-v1"]["nl"].encode()).hexdigest()

    assert (await adviser.call("recording:start"))["ok"]
    for side in (visitor, adviser):
        assert (await side.wait_for("recording:state"))["active"] is True
    await asyncio.sleep(3)

    asked = time.monotonic()
    withdrawn = await visitor.call(
        "consent:set", {"recording": False, "text_id": "recording-v1", "language": "nl"}
    )
    assert withdrawn["ok"]
    for side in (visitor, adviser):
        state = await side.wait_for("recording:state")
        assert state == {"active": False, "reason": "consent_withdrawn", "seq": state["seq"]}
    assert time.monotonic() - asked < 1.0

    recorded = await rows(backend, Recording, joined["call_id"])
    assert sorted(r.participant for r in recorded) == ["adviser", "visitor"]
    assert {r.status for r in recorded} == {"spooled"}
    assert all(Path(r.spool_path).exists() for r in recorded)
    answers = await rows(backend, Consent, joined["call_id"])
    assert [a.granted for a in sorted(answers, key=lambda a: a.granted_at)] == [True, False]

    # The worker's upload pass encrypts, uploads, verifies and clears the spool.
    settings = backend.settings()
    config = settings.recordings()
    storage = storage_from_config(config)
    engine = create_engine(backend.database_url)
    try:
        assert await retry_pending_uploads(create_session_factory(engine), storage, config) == 2
    finally:
        await engine.dispose()
    for row in await rows(backend, Recording, joined["call_id"]):
        assert row.status == "stored"
        assert not Path(row.spool_path or "/nonexistent").exists()
        plain = tmp_path / f"{row.participant}.webm"
        await fetch_recording(storage, config, row, plain)
        with av.open(str(plain)) as container:
            video = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video))
        assert frames > 40  # ~3 s at 20 fps, decoded completely
        assert 2.5 < row.duration_seconds < 4.5
    await storage.stop()


async def test_a_queue_that_does_not_record_refuses_even_with_consent(
    server, world: World, clients: list[Client]
) -> None:
    visitor, adviser, _ = await paired(server, world, clients)  # world's queue: policy "off"
    assert (await visitor.call("consent:set", {"recording": True, "text_id": "recording-v1"}))["ok"]
    refused = await adviser.call("recording:start")
    assert refused["error"]["code"] == "recording_not_allowed"


async def test_an_unknown_consent_text_is_refused(server, world: World, clients: list[Client]) -> None:
    visitor, _, _ = await paired(server, world, clients)
    answer = await visitor.call("consent:set", {"recording": True, "text_id": "made-up"})
    assert answer["error"]["code"] == "unknown_consent_text"


async def test_ending_a_recorded_call_finishes_both_files(
    server, backend: Backend, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    world = await make_world(backend, recording_policy="ask")
    visitor, adviser, joined = await paired(server, world, clients)
    peers = [new_peer(), new_peer()]
    await peers[0].offer_through(visitor)
    await peers[1].offer_through(adviser)
    await peers[0].first_video_within(5)
    await visitor.call("consent:set", {"recording": True, "text_id": "recording-v1"})
    assert (await adviser.call("recording:start"))["ok"]
    await asyncio.sleep(1.5)
    assert (await adviser.call("call:end"))["ok"]
    state = await visitor.wait_for("recording:state", active=False)
    assert state["reason"] == "call_ended"
    recorded = await rows(backend, Recording, joined["call_id"])
    assert {r.status for r in recorded} == {"spooled"}
    assert len(recorded) == 2
