"""Failover in the registry: the calls of a node whose registration lapsed are moved once to
a live node (or, with none left, reported unavailable), whichever signalling nodes watch."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from media.node import ClusterConfig, NodeInfo, Registry
from media.node import keys as node_keys
from media.placement import MEDIA_NODE_LOST, MEDIA_UNAVAILABLE
from tests.media.nodes import StartPlacement


async def _kill(redis: Redis, cluster: ClusterConfig, node_id: str) -> None:
    """What a SIGKILL leaves: the registration lapses, the node stays listed with its calls."""
    await redis.delete(cluster.redis_prefix + node_keys.node(node_id))


async def _events(redis: Redis, cluster: ClusterConfig) -> list[tuple[str, str, str]]:
    entries = await redis.xrange(cluster.redis_prefix + node_keys.ENDED)
    return [(fields["node"], fields["call"], fields["reason"]) for _, fields in entries]


async def test_a_dead_nodes_calls_move_once_to_a_live_node(
    media_registry: Registry,
    media_redis: Redis,
    media_cluster: ClusterConfig,
    start_placement: StartPlacement,
) -> None:
    await media_registry.heartbeat(NodeInfo(node_id="dead", url="http://127.0.0.1:1"), [])
    await media_registry.heartbeat(NodeInfo(node_id="alive", url="http://127.0.0.1:2"), [])
    for call_id in ("call-1", "call-2"):
        assert await media_registry.place(call_id, "dead") == "dead"
    await media_registry.place("call-3", "alive")
    # Two signalling nodes watching at once.
    await start_placement()
    await start_placement()
    await _kill(media_redis, media_cluster, "dead")

    async def moved() -> bool:
        return all([await media_registry.owner(c) == "alive" for c in ("call-1", "call-2")])

    for _ in range(50):
        if await moved():
            break
        await asyncio.sleep(0.1)
    assert await moved()
    await asyncio.sleep(1.0)  # another pass of both watchers: nothing more happens
    events = await _events(media_redis, media_cluster)
    assert sorted(events) == [("alive", "call-1", MEDIA_NODE_LOST), ("alive", "call-2", MEDIA_NODE_LOST)]
    assert await media_registry.owner("call-3") == "alive"
    assert await media_registry.dead_nodes_with_calls() == []
    assert {n.node_id: n.placed for n in await media_registry.nodes()} == {"alive": 3}


async def test_with_no_live_node_the_calls_are_reported_unavailable(
    media_registry: Registry,
    media_redis: Redis,
    media_cluster: ClusterConfig,
    start_placement: StartPlacement,
) -> None:
    await media_registry.heartbeat(NodeInfo(node_id="dead", url="http://127.0.0.1:1"), [])
    await media_registry.place("call-1", "dead")
    await media_registry.place("closed", "dead")
    await media_registry.release("closed", "dead")
    placement = await start_placement()
    await _kill(media_redis, media_cluster, "dead")
    for _ in range(50):
        if await _events(media_redis, media_cluster):
            break
        await asyncio.sleep(0.1)
    assert await _events(media_redis, media_cluster) == [("dead", "call-1", MEDIA_UNAVAILABLE)]
    # The ended stream hands it to signalling, which ends the call.
    ended = placement.ended()
    assert await asyncio.wait_for(anext(ended), 5) == ("call-1", MEDIA_UNAVAILABLE)
    await ended.aclose()
