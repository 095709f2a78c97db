"""Faults the switchboard must survive: a signalling node that dies without closing its
connections, and a tick that fails after it took a due ring (both backend pairs)."""

from __future__ import annotations

import contextlib

from signaling.live import adviser_session
from signaling.state import Presence
from signaling.store import keys
from tests.conftest import Backend, make_world
from tests.signaling.nodes import cluster, staff, visitor


async def test_a_dead_nodes_visitors_are_abandoned_after_the_resume_window(backend: Backend) -> None:
    world = await make_world(backend)
    async with cluster(backend, node_ttl_seconds=10.0, resume_window_seconds=5.0) as nodes:
        a, b = nodes.node("node-a"), nodes.node("node-b")
        await a.tick()  # their hearts beat; the test ticks for them
        await b.tick()
        on_a, on_b = visitor(world.org_id), visitor(world.org_id)
        await a.visitor_connected(on_a)
        await b.visitor_connected(on_b)
        lost = await a.join(on_a, world.queue_id, None)
        kept = await b.join(on_b, world.queue_id, None)

        # Node A dies (SIGKILL): no disconnect, no more ticks. B goes on ticking.
        nodes.clock.now += 5.0
        await b.tick()
        assert (await nodes.call_row(lost["call_id"])).status == "waiting"  # A may be slow only

        nodes.clock.now += 6.0  # A's heart stopped: its visitor gets the resume window
        await b.tick()
        assert (await nodes.call_row(lost["call_id"])).status == "waiting"
        nodes.clock.now += 6.0
        await b.tick()
        row = await nodes.call_row(lost["call_id"])
        assert (row.status, row.end_reason) == ("abandoned", "visitor_disconnected")
        assert await nodes.store.get(keys.connections(f"visitor:{on_a.visitor_id}", "node-a")) is None
        # B's own visitor, connected all along, still waits.
        assert (await nodes.call_row(kept["call_id"])).status == "waiting"


async def test_a_visitor_reconnecting_to_another_node_in_time_keeps_their_place(backend: Backend) -> None:
    world = await make_world(backend)
    async with cluster(backend, node_ttl_seconds=10.0, resume_window_seconds=5.0) as nodes:
        a, b = nodes.node("node-a"), nodes.node("node-b")
        await a.tick()
        on_a = visitor(world.org_id)
        await a.visitor_connected(on_a)
        joined = await a.join(on_a, world.queue_id, None)
        nodes.clock.now += 11.0
        await b.tick()  # A is dead; the window starts
        await b.visitor_connected(on_a)
        nodes.clock.now += 10.0
        await b.tick()
        assert (await nodes.call_row(joined["call_id"])).status == "waiting"


async def test_a_ring_whose_tick_failed_is_missed_on_the_next_tick(backend: Backend) -> None:
    world = await make_world(backend)
    _, user_id = await world.add_user("adviser")
    async with cluster(backend, ring_timeout_seconds=20.0) as nodes:
        node = nodes.node("node-a")
        adviser, caller = staff(world.org_id, user_id), visitor(world.org_id)
        await node.adviser_connected(adviser)
        await node.set_presence(adviser, Presence.AVAILABLE)
        await node.visitor_connected(caller)
        joined = await node.join(caller, world.queue_id, None)
        assert nodes.sent.to(f"adviser:{user_id}", "call:incoming")

        nodes.clock.now += 21.0
        nodes.database.down = True  # PostgreSQL restarts just as the ring runs out
        with contextlib.suppress(ConnectionRefusedError):  # the ticker logs it and goes on
            await node.tick()
        nodes.database.down = False
        await node.tick()

        call = await node.current_call(adviser_session(str(user_id)), world.org_id)
        assert call is None  # the ring was taken back from the adviser
        withdrawn = nodes.sent.to(f"adviser:{user_id}", "call:withdrawn")
        assert [w["reason"] for w in withdrawn] == ["ring_timeout"]
        assert nodes.sent.to(f"adviser:{user_id}", "presence:state")[-1]["reason"] == "missed_call"
        assert (await nodes.call_row(joined["call_id"])).status == "waiting"
