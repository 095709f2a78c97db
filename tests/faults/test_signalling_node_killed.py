"""A signalling node SIGKILLed mid-call, on real processes: two ``loket serve --no-media`` nodes
and one ``loket media`` node. The killed node had a call's visitor and adviser and a visitor
waiting; each reconnects to the other node (the test switches URL, as a load balancer would)
with its token and ``session:resume``, and keeps its call or its place. The media never stops."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import Client, login, visitor_session
from tests.integration.deployment import Deploy, Side, chat_lines
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]


async def connected(namespace: str, url: str, token: str, clients: list[Client]) -> Client:
    client = Client(namespace)
    clients.append(client)
    await client.connect(url, token)
    return client


async def test_the_sessions_of_a_killed_signalling_node_resume_on_the_other_node(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1, signalling_nodes=2)
    doomed, survivor = deployment.signalling
    world = deployment.world
    email = (await world.add_user())[0]
    adviser_token = (await login(doomed, email))["access_token"]
    adviser = await connected("/adviser", doomed, adviser_token, clients)
    assert (await adviser.call("session:resume", {"last_seq": 0}))["ok"]
    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]

    visitor_token = (await visitor_session(doomed, world))["visitor_token"]
    visitor = await connected("/visitor", doomed, visitor_token, clients)
    assert (await visitor.call("session:resume", {"last_seq": 0}))["ok"]
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    sides = [Side(visitor, new_peer()), Side(adviser, new_peer())]
    for side in sides:
        assert (await side.peer.offer_through(side.client))["ok"]
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in sides), timeout=15)
    assert (await visitor.call("chat:send", {"text": "before"}))["ok"]
    await adviser.wait_for("chat:message", text="before")

    waiter_token = (await visitor_session(doomed, world))["visitor_token"]
    waiter = await connected("/visitor", doomed, waiter_token, clients)
    assert (await waiter.call("session:resume", {"last_seq": 0}))["ok"]
    waiting = await waiter.call("queue:join", {"queue_id": str(world.queue_id)})
    assert waiting["ok"] and waiting["position"] == 1, waiting

    video = [side.peer.received["video"] for side in sides]
    frames_before = [counter.frames for counter in video]
    process, _, _ = deployment.serves[0]
    process.kill()
    process.wait(timeout=10)
    killed_at = time.monotonic()

    # Each client notices its connection is gone and reconnects, to the other node.
    await eventually(lambda: not (visitor.sio.connected or adviser.sio.connected or waiter.sio.connected), 10)
    again = {
        "visitor": (await connected("/visitor", survivor, visitor_token, clients), visitor.last_seq),
        "adviser": (await connected("/adviser", survivor, adviser_token, clients), adviser.last_seq),
        "waiter": (await connected("/visitor", survivor, waiter_token, clients), waiter.last_seq),
    }
    acks = {
        name: await client.call("session:resume", {"last_seq": seq}) for name, (client, seq) in again.items()
    }
    resumed_after = time.monotonic() - killed_at
    print(
        f"\nsignalling node SIGKILL: all three sessions resumed on the other node {resumed_after:.2f} s after"
    )
    for name, ack in acks.items():
        assert ack["ok"], (name, ack)
    assert acks["visitor"]["call"]["call_id"] == joined["call_id"]
    assert acks["visitor"]["call"]["status"] == "active"
    assert acks["adviser"]["call"]["call_id"] == joined["call_id"]
    assert acks["waiter"]["call"]["call_id"] == waiting["call_id"]
    assert acks["waiter"]["call"]["position"] == 1

    # The media went on all along, on the media node; the call's chat goes on, stored once.
    assert all(counter.frames > before for counter, before in zip(video, frames_before, strict=True))
    visitor2, adviser2, waiter2 = (client for client, _ in again.values())
    assert (await adviser2.call("chat:send", {"text": "after"}))["ok"]
    await visitor2.wait_for("chat:message", text="after")
    assert await chat_lines(deployment, joined["call_id"]) == ["before", "after"]

    # The call ends normally, and the waiter is rung to the adviser now free: nothing lost.
    assert (await visitor2.call("call:end"))["ok"]
    ended = await adviser2.wait_for("call:ended", call_id=joined["call_id"])
    assert ended["reference"] == joined["reference"]
    rung = await adviser2.wait_for("call:incoming", timeout=10)
    assert rung["call_id"] == waiting["call_id"]
    assert not waiter2.received("call:ended")
