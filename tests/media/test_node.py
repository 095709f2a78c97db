"""Media nodes in the registry, placement on them, and their ended events (real Redis; real
node servers on 127.0.0.1; real aiortc clients where media flows)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from media import LegClosedError
from media.errors import MediaUnavailable
from media.node import CpuLoad, EndedEvent, NodeInfo, Registry, least_loaded
from media.node import keys as node_keys
from tests.media.conftest import Client, eventually
from tests.media.nodes import StartNode, StartPlacement, announce, cancel, collect, offer


def by_id(nodes: list[NodeInfo]) -> dict[str, NodeInfo]:
    return {node.node_id: node for node in nodes}


# -- the registry ----------------------------------------------------------------------------


async def test_a_started_node_is_listed_with_its_address_calls_and_load(
    start_node: StartNode,
    start_placement: StartPlacement,
    media_registry: Registry,
    new_client: Callable[[], Client],
) -> None:
    node = await start_node("node-a")
    listed = by_id(await media_registry.nodes())["node-a"]
    assert listed.url == node.url and node.url.startswith("http://127.0.0.1:")
    assert (listed.calls, listed.placed) == (0, 0)
    assert listed.load >= 0

    placement = await start_placement()
    call_id = str(uuid.uuid4())
    await offer(placement, call_id, "visitor", new_client())
    assert by_id(await media_registry.nodes())["node-a"].placed == 1

    async def reported() -> bool:
        return by_id(await media_registry.nodes())["node-a"].calls == 1

    async with asyncio.timeout(5):
        while not await reported():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_a_stopped_node_leaves_the_registry_at_once(
    start_node: StartNode, media_registry: Registry
) -> None:
    node = await start_node("node-a")
    await start_node("node-b")
    await node.stop()
    assert set(by_id(await media_registry.nodes())) == {"node-b"}


async def test_a_node_whose_heartbeat_stops_is_gone_within_its_lifetime(media_registry: Registry) -> None:
    # A node that dies writes nothing more; its registration runs out (node_ttl_s = 3 s).
    await announce(media_registry, "silent")
    announced = time.monotonic()
    assert "silent" in by_id(await media_registry.nodes())
    async with asyncio.timeout(5):
        while "silent" in by_id(await media_registry.nodes()):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert time.monotonic() - announced <= 3.5


def test_the_least_loaded_node_has_the_fewest_calls_then_the_least_cpu_then_chance() -> None:
    nodes = [
        NodeInfo(node_id="a", url="http://a", placed=3, load=0.1),
        NodeInfo(node_id="b", url="http://b", placed=2, load=0.9),
        NodeInfo(node_id="c", url="http://c", placed=2, load=0.4),
    ]
    assert least_loaded(nodes).node_id == "c"
    tied = [NodeInfo(node_id=name, url=f"http://{name}", placed=1, load=0.21) for name in "xyz"]
    assert {least_loaded(tied).node_id for _ in range(200)} == {"x", "y", "z"}


def test_cpu_load_is_cpu_seconds_per_second_smoothed() -> None:
    now, cpu = [0.0], [0.0]
    load = CpuLoad(smoothing=0.5, cpu_time=lambda: cpu[0], clock=lambda: now[0])
    now[0], cpu[0] = 1.0, 1.0  # one core busy for a second
    assert load.sample() == pytest.approx(0.5)
    now[0], cpu[0] = 2.0, 2.0
    assert load.sample() == pytest.approx(0.75)
    now[0] = 3.0  # idle
    assert load.sample() == pytest.approx(0.375)


# -- placement ---------------------------------------------------------------------------------


async def test_calls_go_to_the_node_with_the_fewest_and_spread_at_once(
    media_registry: Registry, start_placement: StartPlacement
) -> None:
    await announce(media_registry, "busy", load=1.5)
    await announce(media_registry, "idle", load=0.1)
    placement = await start_placement()
    # Placed one after the other, faster than any heartbeat could report them.
    placed = [await placement.place(str(uuid.uuid4())) for _ in range(5)]
    assert placed == ["idle", "busy", "idle", "busy", "idle"]


async def test_two_signalling_nodes_agree_on_every_calls_node(
    media_registry: Registry, start_placement: StartPlacement
) -> None:
    for node_id in ("n1", "n2", "n3"):
        await announce(media_registry, node_id)
    first, second = await start_placement(), await start_placement()
    calls = [str(uuid.uuid4()) for _ in range(30)]
    # Both place every call at the same moment; SET NX makes one of them win.
    answers = await asyncio.gather(*(p.place(call_id) for call_id in calls for p in (first, second)))
    for index, call_id in enumerate(calls):
        assert answers[2 * index] == answers[2 * index + 1]
        assert await first.node_of(call_id) == await second.node_of(call_id) == answers[2 * index]
    # Placed at the same moments, they cannot all see each other's counts: the calls spread
    # roughly, never twice.
    placed = [node.placed for node in await media_registry.nodes()]
    assert sum(placed) == len(calls) and min(placed) > 0


async def test_without_a_live_node_a_call_cannot_be_placed(start_placement: StartPlacement) -> None:
    placement = await start_placement()
    with pytest.raises(MediaUnavailable):
        await placement.place(str(uuid.uuid4()))


async def test_three_calls_on_two_nodes_spread_and_end_on_their_own_node(
    start_node: StartNode, start_placement: StartPlacement, new_client: Callable[[], Client]
) -> None:
    nodes = {node.node_id: node for node in (await start_node("node-a"), await start_node("node-b"))}
    # Two signalling nodes: the offers come through one, the ends through the other.
    first, second = await start_placement(), await start_placement()
    calls = [str(uuid.uuid4()) for _ in range(3)]
    for call_id in calls:
        await offer(first, call_id, "visitor", new_client())
    placed = {call_id: await second.node_of(call_id) for call_id in calls}
    assert set(placed.values()) == {"node-a", "node-b"}
    assert sorted(node.placement.active_calls() for node in nodes.values()) == [1, 2]
    for call_id in calls:
        node = nodes[str(placed[call_id])]
        assert call_id in node.placement.call_ids()
        await second.close_call(call_id)
        assert call_id not in node.placement.call_ids()
    assert all(node.placement.active_calls() == 0 for node in nodes.values())
    with pytest.raises(LegClosedError):
        await first.place(calls[0])


async def test_a_node_closes_a_call_that_is_no_longer_placed_on_it(
    start_node: StartNode,
    start_placement: StartPlacement,
    media_redis: Redis,
    new_client: Callable[[], Client],
) -> None:
    node = await start_node("node-a")
    placement = await start_placement()
    events: list[tuple[str, str]] = []
    watcher = asyncio.create_task(collect(events, placement))
    call_id = str(uuid.uuid4())
    await offer(placement, call_id, "visitor", new_client())
    # Placed elsewhere meanwhile (as failover does while a node is cut off from Redis).
    await media_redis.set(placement_key(node, call_id), "node-b")
    await eventually(lambda: node.placement.active_calls() == 0, timeout=5)
    await asyncio.sleep(0.5)
    await cancel(watcher)
    assert events == []  # closed because it moved: nothing for signalling to end


def placement_key(node: object, call_id: str) -> str:
    prefix = node._cluster.redis_prefix  # type: ignore[attr-defined]
    return prefix + node_keys.call(call_id)


# -- ended events ----------------------------------------------------------------------------


async def test_each_ended_event_is_acted_on_by_one_signalling_node(
    media_registry: Registry, start_placement: StartPlacement
) -> None:
    await announce(media_registry, "node-a")
    first, second = await start_placement(), await start_placement()
    seen: dict[str, list[tuple[str, str]]] = {"first": [], "second": []}
    watchers = [
        asyncio.create_task(collect(seen[name], p)) for name, p in (("first", first), ("second", second))
    ]
    calls = [str(uuid.uuid4()) for _ in range(20)]
    for call_id in calls:
        assert await first.place(call_id) == "node-a"
        await media_registry.ended.publish(
            EndedEvent(node_id="node-a", call_id=call_id, reason="visitor_left")
        )
    await eventually(lambda: len(seen["first"]) + len(seen["second"]) >= len(calls), timeout=10)
    await asyncio.sleep(0.5)
    await cancel(*watchers)
    delivered = [call_id for events in seen.values() for call_id, _ in events]
    assert sorted(delivered) == sorted(calls)
    # An ended call is closed for good: a late offer is refused, not placed afresh.
    with pytest.raises(LegClosedError):
        await second.place(calls[0])


async def test_an_event_about_a_call_that_was_closed_or_moved_is_dropped(
    media_registry: Registry, start_placement: StartPlacement
) -> None:
    await announce(media_registry, "node-a")
    placement = await start_placement()
    closed, moved, ended = (str(uuid.uuid4()) for _ in range(3))
    for call_id in (closed, moved, ended):
        await placement.place(call_id)
    await media_registry.release(closed, "node-a")
    for call_id in (closed, moved, ended):
        await media_registry.ended.publish(
            EndedEvent(
                node_id="node-b" if call_id == moved else "node-a", call_id=call_id, reason="adviser_left"
            )
        )
    events: list[tuple[str, str]] = []
    watcher = asyncio.create_task(collect(events, placement))
    await eventually(lambda: bool(events), timeout=10)
    await asyncio.sleep(0.5)
    await cancel(watcher)
    assert events == [(ended, "adviser_left")]


async def test_an_event_left_unacknowledged_by_a_dead_signalling_node_is_taken_over(
    media_registry: Registry, start_placement: StartPlacement
) -> None:
    await announce(media_registry, "node-a")
    dying = await start_placement(ended_claim_idle_s=0.5)
    call_id = str(uuid.uuid4())
    await dying.place(call_id)
    await media_registry.ended.publish(EndedEvent(node_id="node-a", call_id=call_id, reason="visitor_left"))
    # The dying node receives the event and never gets to acknowledge it.
    stream = dying.ended()
    async with asyncio.timeout(5):
        assert await anext(stream) == (call_id, "visitor_left")
    survivor = await start_placement(ended_claim_idle_s=0.5)
    events: list[tuple[str, str]] = []
    watcher = asyncio.create_task(collect(events, survivor))
    await eventually(lambda: bool(events), timeout=10)
    await cancel(watcher)
    await stream.aclose()
    assert events == [(call_id, "visitor_left")]
