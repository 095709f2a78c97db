"""Visitor→adviser pairing over socket.io, on both backend pairs."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from db import create_engine, create_session_factory
from signaling.models import Call
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor


async def stored_call(backend: Backend, call_id: str) -> Call:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.scalar(select(Call).where(Call.id == uuid.UUID(call_id)))
            assert call is not None
            return call
    finally:
        await engine.dispose()


async def test_visitor_and_adviser_pair_and_both_learn_the_reference_at_the_end(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    email, adviser_id = await world.add_user("adviser", display_name="Sanne")
    adviser = await connect_adviser(url, email, clients)
    visitor = await connect_visitor(url, world, clients)

    started = time.monotonic()
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id), "language": "nl"})
    assert joined["ok"], joined
    assert joined["position"] == 1
    incoming = await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    assert incoming["queue_id"] == str(world.queue_id)
    accepted = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert accepted["ok"], accepted
    visitor_side = await visitor.wait_for("call:accepted")
    assert visitor_side["adviser"] == {"display_name": "Sanne"}
    await adviser.wait_for("call:accepted", call_id=joined["call_id"])
    assert time.monotonic() - started < 1.0

    row = await stored_call(backend, joined["call_id"])
    assert row.status == "active" and row.adviser_id == adviser_id and row.accepted_at is not None

    ended = await visitor.call("call:end")
    assert ended["ok"], ended
    for side in (visitor, adviser):
        event = await side.wait_for("call:ended")
        assert event["reference"] == joined["reference"]
        assert event["reason"] == "visitor_ended"
    row = await stored_call(backend, joined["call_id"])
    assert row.status == "ended" and row.end_reason == "visitor_ended" and row.ended_at is not None


async def test_every_server_event_carries_an_increasing_seq(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    email, _ = await world.add_user("adviser")
    adviser = await connect_adviser(url, email, clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    await adviser.call("call:accept", {"call_id": joined["call_id"]})
    await visitor.wait_for("call:accepted")
    seqs = [data["seq"] for _, data in visitor.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
