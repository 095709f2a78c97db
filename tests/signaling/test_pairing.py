"""Visitor→adviser pairing over socket.io, on both backend pairs."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from accounts import directory
from db import create_engine, create_session_factory
from signaling.models import Call
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    connect_visitor,
    make_world,
    visitor_session,
)


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


async def join(visitor: Client, world: World, language: str | None = None) -> dict[str, Any]:
    ack = await visitor.call("queue:join", {"queue_id": str(world.queue_id), "language": language})
    assert ack["ok"], ack
    return ack


async def test_declining_rings_the_next_adviser(server, world: World, clients: list[Client]) -> None:
    url = base_url(server)
    first = await connect_adviser(url, (await world.add_user())[0], clients)
    second = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    call_id = (await join(visitor, world))["call_id"]

    # The first to go available has been idle longest, so it rings first.
    await first.wait_for("call:incoming", call_id=call_id)
    assert (await first.call("call:decline", {"call_id": call_id}))["ok"]
    await first.wait_for("call:withdrawn", call_id=call_id, reason="declined")
    await second.wait_for("call:incoming", call_id=call_id)
    assert (await second.call("call:accept", {"call_id": call_id}))["ok"]
    await visitor.wait_for("call:accepted")
    assert first.received("call:incoming") == []


async def test_an_unanswered_ring_moves_on_and_sets_the_adviser_away(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)  # the server fixture rings for 2 s
    sleepy = await connect_adviser(url, (await world.add_user())[0], clients)
    awake = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    call_id = (await join(visitor, world))["call_id"]

    await sleepy.wait_for("call:incoming", call_id=call_id)
    started = time.monotonic()
    await awake.wait_for("call:incoming", call_id=call_id, timeout=5)
    assert 1.5 < time.monotonic() - started < 4
    await sleepy.wait_for("call:withdrawn", call_id=call_id, reason="ring_timeout")
    state = await sleepy.wait_for("presence:state")
    assert state["status"] == "away"
    late = await sleepy.call("call:accept", {"call_id": call_id})
    assert late == {"ok": False, "error": {"code": "not_ringing", "message": late["error"]["message"]}}


async def test_the_longest_idle_available_adviser_is_rung(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    advisers = [
        await connect_adviser(url, (await world.add_user())[0], clients, available=False) for _ in range(3)
    ]
    for index in (2, 0, 1):  # going available starts the idle clock
        assert (await advisers[index].call("presence:set", {"status": "available"}))["ok"]
        await asyncio.sleep(0.01)
    visitor = await connect_visitor(url, world, clients)
    call_id = (await join(visitor, world))["call_id"]
    await advisers[2].wait_for("call:incoming", call_id=call_id)
    assert advisers[0].received("call:incoming") == advisers[1].received("call:incoming") == []


async def test_only_advisers_serving_the_queue_and_language_are_rung(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    other_queue = await _second_queue(backend, world)
    german = await connect_adviser(url, (await world.add_user(languages=["de"]))[0], clients)
    elsewhere = await connect_adviser(url, (await world.add_user(queue_ids=[other_queue]))[0], clients)
    dutch = await connect_adviser(url, (await world.add_user(languages=["nl", "en"]))[0], clients)
    visitor = await connect_visitor(url, world, clients)
    call_id = (await join(visitor, world, language="nl"))["call_id"]
    await dutch.wait_for("call:incoming", call_id=call_id)
    assert german.received("call:incoming") == elsewhere.received("call:incoming") == []
    # Nor do they see the call waiting in their queue snapshot.
    snapshots = german.received("queue:snapshot") + elsewhere.received("queue:snapshot")
    assert all(entry["call_id"] != call_id for snap in snapshots for entry in snap["waiting"])


async def _second_queue(backend: Backend, world: World) -> uuid.UUID:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            queue = await directory.create_queue(db, org_id=world.org_id, actor="test", name="Service")
            await db.commit()
            return queue.id
    finally:
        await engine.dispose()


async def test_positions_and_eta_follow_the_queue(server, world: World, clients: list[Client]) -> None:
    url = base_url(server)
    visitors = [await connect_visitor(url, world, clients) for _ in range(3)]
    joined = [await join(visitor, world) for visitor in visitors]
    assert [ack["position"] for ack in joined] == [1, 2, 3]
    last = await _latest(visitors[2], "queue:position")
    assert last == {"position": 3, "eta_seconds": None, "seq": last["seq"]}  # nobody staffed: no promise

    assert (await visitors[0].call("queue:leave"))["ok"]
    assert (await _latest(visitors[2], "queue:position", position=2))["position"] == 2

    await connect_adviser(url, (await world.add_user())[0], clients, available=False)
    adviser = clients[-1]
    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]
    # One adviser, default mean handle time 180 s: the visitor at position 2 waits ~360 s.
    update = await _latest(visitors[2], "queue:position", eta_seconds=360)
    assert update["position"] == 2


async def _latest(client: Client, event: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
    return await client.wait_for(event, timeout=timeout, **match)


# The ring must not time out before the visitor leaves, however loaded the machine.
@pytest.mark.server_settings(ring_timeout_seconds=30.0)
async def test_a_visitor_leaving_while_rung_abandons_the_call(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await join(visitor, world)
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    assert (await visitor.call("queue:leave"))["ok"]
    await adviser.wait_for("call:withdrawn", call_id=joined["call_id"], reason="visitor_ended")
    ended = await visitor.wait_for("call:ended")
    assert ended["reference"] == joined["reference"]
    row = await stored_call(backend, joined["call_id"])
    assert (row.status, row.end_reason) == ("abandoned", "visitor_ended")


async def test_a_visitor_who_does_not_come_back_abandons_the_call(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)  # resume window: 2 s
    visitor = await connect_visitor(url, world, clients)
    joined = await join(visitor, world)
    await visitor.close()
    await asyncio.sleep(3.5)
    row = await stored_call(backend, joined["call_id"])
    assert (row.status, row.end_reason) == ("abandoned", "visitor_disconnected")


async def test_a_visitor_resuming_in_time_keeps_their_place_and_gets_missed_events(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    # The adviser logs in first (password hashing is slow under load) and becomes available only
    # while the visitor is away, so everything between the drop and the resume fits the window.
    adviser = await connect_adviser(url, (await world.add_user())[0], clients, available=False)
    session = await visitor_session(url, world)
    first = Client("/visitor")
    clients.append(first)
    await first.connect(url, session["visitor_token"])
    joined = await first.call("queue:join", {"queue_id": str(world.queue_id)})
    await first.wait_for("queue:position")
    last_seq = max(data["seq"] for _, data in first.events) if first.events else 0
    await first.close()

    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]

    again = Client("/visitor")
    clients.append(again)
    await again.connect(url, session["visitor_token"])
    resumed = await again.call("session:resume", {"last_seq": last_seq})
    assert resumed["ok"], resumed
    assert resumed["call"]["call_id"] == joined["call_id"]
    assert resumed["call"]["status"] == "active"
    accepted = await again.wait_for("call:accepted")
    assert accepted["seq"] > last_seq
    assert resumed["replayed"] >= 1


async def test_an_adviser_who_drops_out_of_a_call_ends_it_after_the_window(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await join(visitor, world)
    await adviser.wait_for("call:incoming")
    await adviser.call("call:accept", {"call_id": joined["call_id"]})
    await adviser.close()
    ended = await visitor.wait_for("call:ended", timeout=6)
    assert ended["reason"] == "adviser_disconnected"
    row = await stored_call(backend, joined["call_id"])
    assert row.status == "ended"


async def test_a_visitor_token_is_good_for_one_call(server, world: World, clients: list[Client]) -> None:
    url = base_url(server)
    visitor = await connect_visitor(url, world, clients)
    await join(visitor, world)
    again = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert again["error"]["code"] == "already_joined"
    assert (await visitor.call("queue:leave"))["ok"]
    after = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert after["error"]["code"] == "already_joined"


async def test_a_closed_queue_refuses_visitors_and_says_when_it_opens(
    server, backend: Backend, clients: list[Client]
) -> None:
    now = datetime.now(ZoneInfo("Europe/Amsterdam"))
    tomorrow = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 1) % 7]
    world = await make_world(backend, opening_hours={tomorrow: [["09:00", "10:00"]]})
    visitor = await connect_visitor(base_url(server), world, clients)
    refused = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert refused["ok"] is False
    assert refused["error"]["code"] == "queue_closed"
    assert "09:00" in refused["error"]["message"]


async def test_an_adviser_never_sees_another_organisations_visitors(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    other = await make_world(backend)
    outsider = await connect_adviser(url, (await other.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await join(visitor, world)
    stolen = await outsider.call("call:accept", {"call_id": joined["call_id"]})
    assert stolen["error"]["code"] == "call_not_found"
    await asyncio.sleep(0.3)
    assert outsider.received("call:incoming") == []
    assert all(snap["waiting"] == [] for snap in outsider.received("queue:snapshot"))
    foreign_queue = await visitor_in(url, other, clients)
    assert foreign_queue["error"]["code"] == "queue_not_found"


async def visitor_in(url: str, other: World, clients: list[Client]) -> dict[str, Any]:
    """A visitor of ``other``'s org trying to join a queue id it does not own."""
    intruder = await connect_visitor(url, other, clients)
    return await intruder.call("queue:join", {"queue_id": str(uuid.uuid4())})
