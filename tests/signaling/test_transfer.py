"""``call:transfer`` (signaling.transfer) to a queue and to an adviser, with a refusal and a
missed ring, on both backend pairs (memory + SQLite, Redis + PostgreSQL); and its refusals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from sqlalchemy import select

from accounts import directory
from db import create_engine, create_session_factory
from recordings import Recording
from signaling.models import Call, CallTransfer
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    connect_visitor,
    make_world,
    paired,
)
from tests.signaling.conftest import Peer


async def add_queue(world: World, name: str) -> uuid.UUID:
    engine = create_engine(world.backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            queue = await directory.create_queue(
                db, org_id=world.org_id, actor="test", name=name, languages=["nl", "en"]
            )
            await db.commit()
            return queue.id
    finally:
        await engine.dispose()


async def stored(backend: Backend, call_id: str) -> tuple[Call, list[CallTransfer]]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.get(Call, uuid.UUID(call_id))
            assert call is not None
            rows = (
                await db.scalars(
                    select(CallTransfer)
                    .where(CallTransfer.call_id == call.id)
                    .order_by(CallTransfer.created_at)
                )
            ).all()
            return call, list(rows)
    finally:
        await engine.dispose()


async def recording_rows(backend: Backend, call_id: str) -> list[Recording]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            found = await db.scalars(select(Recording).where(Recording.call_id == uuid.UUID(call_id)))
            return list(found)
    finally:
        await engine.dispose()


async def test_a_call_transferred_to_a_queue_waits_first_there_and_stays_the_same_call(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    visitor, first, joined = await paired(server, world, clients)
    body_shop = await add_queue(world, "Body shop")
    # Someone already waits in the body-shop queue (the only adviser is busy).
    other = await connect_visitor(url, world, clients)
    waiting = await other.call("queue:join", {"queue_id": str(body_shop)})
    assert waiting["ok"] and waiting["position"] == 1, waiting

    ack = await first.call("call:transfer", {"queue_id": str(body_shop), "note": "bumper, quote Q-2291"})
    assert ack == {"ok": True, "call_id": joined["call_id"], "to": "queue", "queue_id": str(body_shop)}
    assert (await first.wait_for("call:transferred"))["call_id"] == joined["call_id"]
    await visitor.wait_for("call:transferred", call_id=joined["call_id"])
    assert (await visitor.wait_for("queue:position"))["position"] == 1
    assert (await other.wait_for("queue:position", position=2))["position"] == 2
    # The adviser who passed it on is free, and rung for the next call, never for this one again.
    assert (await first.wait_for("call:incoming"))["call_id"] == waiting["call_id"]

    email, _ = await world.add_user("adviser", display_name="Bram")
    second = await connect_adviser(url, email, clients)
    incoming = await second.wait_for("call:incoming")
    assert incoming["call_id"] == joined["call_id"], "the transferred call is first"
    assert incoming["transfer"] == {"note": "bumper, quote Q-2291"}
    assert (await second.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    accepted = await visitor.wait_for("call:accepted")
    assert accepted["adviser"] == {"display_name": "Bram"} and accepted["reference"] == joined["reference"]
    chat = await visitor.call("chat:send", {"text": "still me"})
    assert chat["ok"], chat
    assert (await second.wait_for("chat:message"))["call_id"] == joined["call_id"]

    ended = await visitor.call("call:end")
    assert ended["ok"] and ended["reference"] == joined["reference"]
    call, transfers = await stored(backend, joined["call_id"])
    assert (call.status, call.queue_id, call.transfers) == ("ended", body_shop, 1)
    assert [(t.outcome, t.to_queue_id) for t in transfers] == [("queued", body_shop)]


async def test_a_call_transferred_to_an_adviser_comes_back_when_refused_and_moves_when_accepted(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    visitor, first, joined = await paired(server, world, clients)
    email, second_id = await world.add_user("adviser", display_name="Bram")
    second = await connect_adviser(url, email, clients)
    call_id = joined["call_id"]

    targets = await first.call("transfer:targets")
    assert targets == {"ok": True, "advisers": [{"adviser_id": str(second_id), "display_name": "Bram"}]}
    ack = await first.call("call:transfer", {"adviser_id": str(second_id), "note": "quote"})
    assert ack["ok"] and ack["to"] == "adviser", ack
    assert (await second.wait_for("call:incoming"))["transfer"] == {"note": "quote"}
    # While it rings, the first adviser is still in the call (a reload draws it so).
    mine = (await first.call("session:resume", {"last_seq": 10**6}))["call"]
    assert (mine["status"], mine["transferring"]) == ("active", True)
    await visitor.wait_for("call:transferred", call_id=call_id)
    # Refused: back with the first adviser, as it was.
    assert (await second.call("call:decline", {"call_id": call_id}))["ok"]
    assert (await first.wait_for("call:transfer_failed"))["reason"] == "declined"
    await visitor.wait_for("call:transfer_failed", call_id=call_id)
    assert (await second.wait_for("call:withdrawn"))["reason"] == "declined"
    assert (await visitor.call("chat:send", {"text": "hello again"}))["ok"]
    assert (await first.wait_for("chat:message"))["text"] == "hello again"

    # Asked again, and accepted: the call moves, the first adviser is free.
    assert (await first.call("call:transfer", {"adviser_id": str(second_id)}))["ok"]
    assert (await second.wait_for("call:incoming"))["transfer"] == {"note": None}
    assert (await second.call("call:accept", {"call_id": call_id}))["ok"]
    assert (await first.wait_for("call:transferred"))["to"] == "adviser"
    accepted = await visitor.wait_for("call:accepted")
    assert accepted["adviser"] == {"display_name": "Bram"} and accepted["call_id"] == call_id
    assert (await first.call("session:resume", {"last_seq": 10**6}))["call"] is None

    # The new adviser shares a screen: the visitor is told, to show it large.
    assert (await second.call("share:start"))["ok"]
    assert (await visitor.wait_for("share:state"))["active"] is True
    assert (await visitor.call("session:resume", {"last_seq": 10**6}))["call"]["sharing"] is True
    assert (await second.call("share:stop"))["ok"]
    assert (await visitor.wait_for("share:state"))["active"] is False
    assert (await first.call("share:start"))["error"]["code"] == "not_active"

    assert (await second.call("call:end"))["ok"]
    call, transfers = await stored(backend, call_id)
    assert (call.status, call.adviser_id, call.transfers) == ("ended", second_id, 1)
    assert [t.outcome for t in transfers] == ["declined", "accepted"]


async def test_a_transfer_nobody_answers_returns_to_the_adviser_who_made_it(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    visitor, first, joined = await paired(server, world, clients)
    email, second_id = await world.add_user("adviser")
    second = await connect_adviser(url, email, clients)

    assert (await first.call("call:transfer", {"adviser_id": str(second_id)}))["ok"]
    await second.wait_for("call:incoming")
    # The server's ring lasts 2 s (tests.conftest.server).
    assert (await first.wait_for("call:transfer_failed", timeout=8))["reason"] == "ring_timeout"
    await visitor.wait_for("call:transfer_failed")
    assert (await second.wait_for("presence:state"))["status"] == "away"
    resumed = await visitor.call("session:resume", {"last_seq": 10**6})
    assert resumed["call"]["status"] == "active" and resumed["call"]["transferring"] is False
    assert (await first.call("call:end"))["ok"]
    call, transfers = await stored(backend, joined["call_id"])
    assert (call.status, call.transfers, [t.outcome for t in transfers]) == ("ended", 0, ["ring_timeout"])


async def test_a_transfer_anywhere_but_to_a_colleague_or_queue_of_ones_own_is_refused_clearly(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    elsewhere = await make_world(backend)
    _, stranger_id = await elsewhere.add_user("adviser")
    idle_email, _ = await world.add_user("adviser")
    idle = await connect_adviser(url, idle_email, clients)
    # Not in a call.
    refused = await idle.call("call:transfer", {"queue_id": str(world.queue_id)})
    assert refused["error"]["code"] == "not_in_call", refused

    visitor, adviser, joined = await paired(server, world, clients)
    own_id = list(world.users.values())[-1]  # paired's adviser
    _, away_id = await world.add_user("adviser")  # never connected
    cases = [
        ({"queue_id": str(uuid.uuid4())}, "queue_not_found"),
        ({"queue_id": str(elsewhere.queue_id)}, "queue_not_found"),
        ({"adviser_id": str(stranger_id)}, "adviser_not_found"),
        ({"adviser_id": str(uuid.uuid4())}, "adviser_not_found"),
        ({"adviser_id": str(away_id)}, "adviser_unavailable"),
        ({"adviser_id": str(own_id)}, "transfer_to_self"),
        ({"queue_id": str(world.queue_id), "adviser_id": str(away_id)}, "invalid_input"),
        ({}, "invalid_input"),
        ({"queue_id": "not-a-uuid"}, "invalid_input"),
    ]
    for payload, code in cases:
        ack = await adviser.call("call:transfer", payload)
        assert not ack["ok"] and ack["error"]["code"] == code, (payload, ack)
        assert ack["error"]["message"]
    own = await adviser.call("session:resume", {"last_seq": 0})
    assert own["call"]["call_id"] == joined["call_id"] and own["call"]["status"] == "active"
    # The visitor heard of none of it.
    assert not visitor.received("call:transferred")


async def test_a_recording_stops_at_a_transfer_and_the_next_adviser_records_the_same_call_again(
    server, backend: Backend, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    """With media: the visitor's connection carries on through the transfer, now with the next
    adviser's video; the recording stopped and is started again under the same consent."""
    world = await make_world(backend, recording_policy="ask")
    visitor, first, joined = await paired(server, world, clients)
    visitor_peer, first_peer = new_peer(), new_peer()
    await visitor_peer.offer_through(visitor)
    await first_peer.offer_through(first)
    await visitor_peer.first_video_within(5)
    assert (await visitor.call("consent:set", {"recording": True, "text_id": "recording-v1"}))["ok"]
    assert (await first.call("recording:start"))["ok"]
    await visitor.wait_for("recording:state", active=True)
    await asyncio.sleep(1.5)  # a file needs a keyframe or two; an empty one is not kept

    assert (await first.call("call:transfer", {"queue_id": str(world.queue_id)}))["ok"]
    for side in (visitor, first):
        assert (await side.wait_for("recording:state", active=False))["reason"] == "transferred"
    await first_peer.close()  # the first console lets go of its connection: the call goes on

    email, _ = await world.add_user("adviser")
    second = await connect_adviser(base_url(server), email, clients)
    await second.wait_for("call:incoming", call_id=joined["call_id"])
    assert (await second.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    received = visitor_peer.received["video"].frames
    second_peer = new_peer()
    await second_peer.offer_through(second)
    await second_peer.first_video_within(10)
    for _ in range(100):  # the visitor's same connection now carries the second adviser's video
        if visitor_peer.received["video"].frames > received + 10:
            break
        await asyncio.sleep(0.1)
    assert visitor_peer.received["video"].frames > received + 10
    assert (await second.call("recording:start"))["ok"]
    await visitor.wait_for("recording:state", active=True)
    await asyncio.sleep(1.5)
    assert (await second.call("call:end"))["ok"]
    recordings = await recording_rows(backend, joined["call_id"])
    assert len(recordings) == 4, "a file per party for each adviser's recording"
    assert {r.status for r in recordings} <= {"spooled", "stored"}  # a media node uploads its own
