"""Queue updates that scale: a visitor hears ``queue:position`` only when their own figures
change, at most once a second, and advisers a ``queue:snapshot`` at most once a second; a join
at the tail tells nobody else (both backend pairs, counted at the outbox)."""

from __future__ import annotations

from collections import Counter

from accounts.tokens import VisitorClaims
from signaling.state import Presence
from signaling.switchboard import Switchboard
from tests.conftest import Backend, make_world
from tests.signaling.nodes import Cluster, cluster, staff, visitor


def room(claims: VisitorClaims) -> str:
    return f"visitor:{claims.visitor_id}"


async def _join_many(
    nodes: Cluster, node: Switchboard, world_org, queue_id, count: int
) -> list[VisitorClaims]:  # type: ignore[no-untyped-def]
    joined = []
    for _ in range(count):
        nodes.clock.now += 0.001  # one after the other
        claims = visitor(world_org)
        await node.visitor_connected(claims)
        ack = await node.join(claims, queue_id, None)
        joined.append(claims)
        assert ack["position"] == len(joined)
    return joined


async def test_two_hundred_joins_at_the_tail_tell_nobody_else(backend: Backend) -> None:
    world = await make_world(backend)
    async with cluster(backend) as nodes:
        node = nodes.node("node-a")
        visitors = await _join_many(nodes, node, world.org_id, world.queue_id, 200)
        nodes.clock.now += 5.0
        await node.tick()
        positions = nodes.sent.named("queue:position")
        # One event each, to the visitor who joined, with their own place; nothing to the others.
        assert Counter(to for to, _ in positions) == {room(v): 1 for v in visitors}
        assert [data["position"] for _, data in positions] == list(range(1, 201))


async def test_a_visitor_leaving_moves_up_only_those_behind_once_a_second(backend: Backend) -> None:
    world = await make_world(backend)
    async with cluster(backend) as nodes:
        node = nodes.node("node-a")
        visitors = await _join_many(nodes, node, world.org_id, world.queue_id, 6)
        nodes.clock.now += 5.0
        await node.tick()
        nodes.sent.events.clear()

        assert (await node.leave(visitors[2]))["call_id"]  # the third leaves
        await node.tick()
        moved = nodes.sent.named("queue:position")
        assert {to: data["position"] for to, data in moved} == {
            room(v): n for n, v in enumerate(visitors[3:], 3)
        }

        # Two more leave within the second: those behind hear nothing until it has passed,
        # then once, with their final place.
        nodes.sent.events.clear()
        await node.leave(visitors[0])
        nodes.clock.now += 0.3
        await node.tick()
        await node.leave(visitors[1])
        nodes.clock.now += 0.3
        await node.tick()
        assert nodes.sent.named("queue:position") == []
        nodes.clock.now += 0.5
        await node.tick()
        moved = nodes.sent.named("queue:position")
        assert {to: data["position"] for to, data in moved} == {
            room(v): n for n, v in enumerate(visitors[3:], 1)
        }


async def test_staffing_changes_every_eta_and_advisers_get_one_snapshot_a_second(backend: Backend) -> None:
    world = await make_world(backend)
    _, user_id = await world.add_user("adviser")
    async with cluster(backend) as nodes:
        node = nodes.node("node-a")
        adviser = staff(world.org_id, user_id)
        await node.adviser_connected(adviser)  # away: nobody is staffed, no ETA
        visitors = await _join_many(nodes, node, world.org_id, world.queue_id, 30)
        assert all(data["eta_seconds"] is None for _, data in nodes.sent.named("queue:position"))
        await node.tick()
        snapshots = nodes.sent.to(f"adviser:{user_id}", "queue:snapshot")
        assert len(snapshots) == 1 and len(snapshots[0]["waiting"]) == 30  # 30 joins, one snapshot

        nodes.sent.events.clear()
        nodes.clock.now += 1.0
        await node.set_presence(adviser, Presence.AVAILABLE)  # rings the first visitor
        await node.tick()
        etas = {to: data for to, data in nodes.sent.named("queue:position")}
        # One adviser, 180 s mean handle time: position n waits n * 180 s.
        assert etas == {
            room(v): {"position": n, "eta_seconds": n * 180, "seq": etas[room(v)]["seq"]}
            for n, v in enumerate(visitors, 1)
        }
        assert len(nodes.sent.to(f"adviser:{user_id}", "queue:snapshot")) == 1
