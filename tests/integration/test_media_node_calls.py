"""Calls through signalling nodes that relay no media, over the public contract only (REST,
socket.io, ``rtc:offer`` from real aiortc peers): two ``loket serve --no-media`` processes and
``loket media`` nodes on one PostgreSQL and Redis, the visitor on signalling node A and the
adviser on B."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from media.node import Registry
from media.node import keys as node_keys
from tests.conftest import Client
from tests.integration.deployment import Deploy, both_receiving, start_call, stored_recordings
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_call_between_two_signalling_nodes_relays_both_ways_and_its_recording_is_stored(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1, signalling_nodes=2)
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)

    consented = await call.visitor.client.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    started = await call.adviser.client.call("recording:start")
    assert started["ok"], started
    for side in call.sides:
        assert (await side.client.wait_for("recording:state"))["active"] is True
    await asyncio.sleep(3)
    assert (await call.adviser.client.call("recording:stop"))["ok"]

    rows = await stored_recordings(deployment, call.call_id, 2, timeout=30)
    assert sorted(row.participant for row in rows) == ["adviser", "visitor"]
    # Spooled on the media node, stored by its own upload loop, the spool cleared after.
    assert {row.spool_node for row in rows} == {"media-a"}
    assert all(row.spool_path is None and row.bytes and row.bytes > 1000 for row in rows)
    for row in rows:
        assert (deployment.data_dir / "recordings" / row.storage_key).stat().st_size == row.bytes
    assert not any((deployment.data_dir / "media-a" / "spool" / call.call_id).glob("*.webm"))

    assert (await call.visitor.client.call("call:end"))["ok"]
    await call.adviser.client.wait_for("call:ended")


async def test_three_calls_spread_over_two_media_nodes_and_each_end_closes_its_own_media(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(2, signalling_nodes=2)
    calls = [await start_call(deployment, clients, new_peer) for _ in range(3)]
    await eventually(lambda: all(both_receiving(call) for call in calls), timeout=30)

    registry = Registry(deployment.cluster)
    await registry.start()
    try:
        placed = {call.call_id: await registry.owner(call.call_id) for call in calls}
        assert set(placed.values()) == {"media-a", "media-b"}, placed

        # One ended by the adviser (on B), one by the visitor (on A), one left running.
        first, second, running = calls
        assert (await first.adviser.client.call("call:end"))["ok"]
        assert (await second.visitor.client.call("call:end"))["ok"]
        await first.visitor.client.wait_for("call:ended")
        await second.adviser.client.wait_for("call:ended")
        for ended in (first, second):
            assert await registry.owner(ended.call_id) == node_keys.CLOSED

        await asyncio.sleep(1.0)
        before = {c.call_id: c.visitor.peer.received["video"].frames for c in calls}
        await asyncio.sleep(1.5)
        after = {c.call_id: c.visitor.peer.received["video"].frames for c in calls}
        for ended in (first, second):
            assert after[ended.call_id] == before[ended.call_id], "an ended call's media still flows"
        assert after[running.call_id] > before[running.call_id], "the other call's media stopped"
        assert await registry.owner(running.call_id) == placed[running.call_id]
        # The nodes' heartbeats (a second late) count only the running call now, on its node.
        deadline = time.monotonic() + 5
        while (live := {n.node_id: n.calls for n in await registry.nodes()}) != {
            **{node_id: 0 for node_id in deployment.media},
            placed[running.call_id]: 1,
        }:
            assert time.monotonic() < deadline, live
            await asyncio.sleep(0.2)
    finally:
        await registry.stop()
