"""Redis stopped for 10 s (SIGKILL, started again on its append-only file) while two visitors
wait and a call is active, on real processes: two ``loket serve --no-media`` nodes (visitors on
the first, advisers on the second) and one ``loket media`` node. The call keeps its media and
its chat; when Redis is back the queue is whole, each visitor still has their place, no node
counts another's connections gone, and the next adviser is rung for the first visitor only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from tests.conftest import Client, connect_adviser, connect_visitor
from tests.faults.services import OwnRedis
from tests.integration.deployment import Deploy, both_receiving, chat_lines, start_call
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]

OUTAGE_SECONDS = 10.0


async def test_a_redis_outage_loses_no_call_no_place_and_rings_no_ghost(
    deploy: Deploy, own_redis: OwnRedis, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1, signalling_nodes=2)
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)
    assert (await call.visitor.client.call("chat:send", {"text": "before"}))["ok"]
    await call.adviser.client.wait_for("chat:message", text="before")

    waiting: list[tuple[Client, dict]] = []
    for _ in range(2):
        visitor = await connect_visitor(deployment.url, deployment.world, clients)
        assert (await visitor.call("session:resume", {"last_seq": 0}))["ok"]
        joined = await visitor.call("queue:join", {"queue_id": str(deployment.world.queue_id)})
        assert joined["ok"], joined
        waiting.append((visitor, joined))
    assert [joined["position"] for _, joined in waiting] == [1, 2]

    video = call.visitor.peer.received["video"]
    frames_before = video.frames
    own_redis.kill()
    down_at = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS / 2)
    frames_midway = video.frames
    await asyncio.sleep(OUTAGE_SECONDS / 2)
    # The media path needs no Redis: frames kept arriving all through the outage.
    assert frames_midway > frames_before and video.frames > frames_midway
    own_redis.start()
    up_at = time.monotonic()

    # Everyone asks where they stand, as a client does after any doubt; the answer comes from
    # the realtime state, so it is whole again once it answers.
    async def resumed(client: Client) -> dict:
        while True:
            try:
                ack = await client.call("session:resume", {"last_seq": client.last_seq}, timeout=2)
            except TimeoutError:
                ack = {"ok": False}
            if ack["ok"]:
                return ack
            assert time.monotonic() - up_at < 30, ack
            await asyncio.sleep(0.2)

    acks = [await resumed(client) for client in (call.visitor.client, call.adviser.client)]
    acks += [await resumed(visitor) for visitor, _ in waiting]
    recovered = time.monotonic() - up_at
    print(
        f"\nredis outage {up_at - down_at:.1f} s: every session's state answered again "
        f"{recovered:.2f} s after Redis came back"
    )

    assert acks[0]["call"]["call_id"] == call.call_id and acks[0]["call"]["status"] == "active"
    assert acks[1]["call"]["call_id"] == call.call_id
    for position, ((visitor, joined), ack) in enumerate(zip(waiting, acks[2:], strict=True), start=1):
        if ack["call"] is None:  # the one other outcome allowed: told, with a reason
            ended = await visitor.wait_for("call:ended", call_id=joined["call_id"])
            assert ended["reason"], ended
        else:
            assert ack["call"]["call_id"] == joined["call_id"] and ack["call"]["status"] == "waiting"
            assert ack["call"]["position"] == position, (position, ack)

    # The call goes on: media, chat (stored once each), and no one was told it ended.
    frames_after = video.frames
    await eventually(lambda: video.frames > frames_after + 10, timeout=5)
    assert (await call.adviser.client.call("chat:send", {"text": "after"}))["ok"]
    await call.visitor.client.wait_for("chat:message", text="after")
    assert await chat_lines(deployment, call.call_id) == ["before", "after"]
    for client in (call.visitor.client, call.adviser.client):
        assert not client.received("call:ended")

    # Every node's heart stopped with Redis; none may count another's connections closed
    # (which would start their resume windows and abandon visitors still connected).
    redis = Redis.from_url(own_redis.url, decode_responses=True)
    try:
        await asyncio.sleep(1)  # a few ticks of both nodes
        assert await redis.zrange(deployment.cluster.redis_prefix + "detached", 0, -1) == []
    finally:
        await redis.aclose()

    # No ghost rings: a new adviser is rung for the first visitor waiting, and only for them.
    second = await connect_adviser(deployment.signalling[-1], (await deployment.world.add_user())[0], clients)
    first_call = waiting[0][1]["call_id"]
    rung = await second.wait_for("call:incoming", timeout=10)
    assert rung["call_id"] == first_call, rung
    assert (await second.call("call:accept", {"call_id": first_call}))["ok"]
    await waiting[0][0].wait_for("call:accepted")
    await asyncio.sleep(1)
    assert not second.received("call:incoming")
    assert not call.adviser.client.received("call:incoming")
    assert waiting[1][0].sio.connected and not waiting[1][0].received("call:ended")
