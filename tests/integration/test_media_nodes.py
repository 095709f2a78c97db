"""Media nodes as real processes (``loket media``): registered in Redis, driven over the
internal channel by ``RemotePlacement`` in this process, and SIGKILLed to see the registry
forget them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from media.node import ClusterConfig, Registry
from tests.integration.processes import NodeProcess, media_node_env, media_node_ready, spawn_media_node
from tests.media.conftest import Client, eventually
from tests.media.nodes import StartPlacement, cancel, collect, offer

pytestmark = pytest.mark.integration


@pytest.fixture
def spawn_node(
    media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path
) -> Iterator[Callable[..., list[NodeProcess]]]:
    """``spawn(*node_ids)``: ``loket media`` processes, spawned together and then waited for (their
    start-ups overlap)."""
    started: list[NodeProcess] = []

    def spawn(*node_ids: str) -> list[NodeProcess]:
        starting = [
            spawn_media_node(
                node_id,
                media_node_env(node_id, media_cluster, postgres_url, tmp_path),
                tmp_path / f"{node_id}.log",
            )
            for node_id in node_ids
        ]
        nodes = [media_node_ready(one) for one in starting]
        started.extend(nodes)
        return nodes

    yield spawn
    for node in started:
        if node.process.poll() is None:
            node.process.terminate()
    for node in started:
        node.process.wait(timeout=20)
        node.close()


async def live_ids(registry: Registry) -> set[str]:
    return {node.node_id for node in await registry.nodes()}


async def test_a_killed_node_leaves_the_registry_within_its_lifetime(
    spawn_node: Callable[..., list[NodeProcess]], media_registry: Registry, media_cluster: ClusterConfig
) -> None:
    node, _ = spawn_node("killed", "survivor")
    assert await live_ids(media_registry) == {"killed", "survivor"}
    node.kill()
    killed_at = time.monotonic()
    async with asyncio.timeout(media_cluster.node_ttl_s + 3):
        while "killed" in await live_ids(media_registry):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    gone_after = time.monotonic() - killed_at
    assert gone_after <= media_cluster.node_ttl_s + 0.5, f"listed {gone_after:.1f} s after SIGKILL"
    assert await live_ids(media_registry) == {"survivor"}


async def test_a_call_relayed_by_a_node_process_flows_both_ways_and_its_end_comes_back(
    spawn_node: Callable[..., list[NodeProcess]],
    start_placement: StartPlacement,
    new_client: Callable[[], Client],
) -> None:
    spawn_node("node-a")
    placement = await start_placement()
    events: list[tuple[str, str]] = []
    watcher = asyncio.create_task(collect(events, placement))
    call_id = str(uuid.uuid4())
    visitor, adviser = new_client(), new_client()
    await offer(placement, call_id, "visitor", visitor)
    await offer(placement, call_id, "adviser", adviser)

    def receiving() -> bool:
        return all(
            c.received.get(k) is not None and c.received[k].frames > 10
            for c in (visitor, adviser)
            for k in ("audio", "video")
        )

    await eventually(receiving, timeout=15)
    await adviser.pc.close()
    await eventually(lambda: bool(events), timeout=15)
    await cancel(watcher)
    assert events == [(call_id, "adviser_left")]


async def test_three_calls_spread_over_two_node_processes_and_end_on_their_own(
    spawn_node: Callable[..., list[NodeProcess]],
    start_placement: StartPlacement,
    new_client: Callable[[], Client],
) -> None:
    spawn_node("node-a", "node-b")
    first, second = await start_placement(), await start_placement()
    calls = [str(uuid.uuid4()) for _ in range(3)]
    clients = {call_id: (new_client(), new_client()) for call_id in calls}
    for call_id, (visitor, adviser) in clients.items():
        await offer(first, call_id, "visitor", visitor)
        await offer(second, call_id, "adviser", adviser)
    placed = {call_id: await first.node_of(call_id) for call_id in calls}
    assert set(placed.values()) == {"node-a", "node-b"}
    await eventually(
        lambda: all(
            c.received.get("video") is not None and c.received["video"].frames > 0
            for pair in clients.values()
            for c in pair
        ),
        timeout=20,
    )
    # Ending through either signalling node stops exactly that call's media.
    ended, running = calls[0], calls[1:]
    await second.close_call(ended)
    await asyncio.sleep(1.0)
    frames = {call_id: clients[call_id][0].received["video"].frames for call_id in calls}
    await asyncio.sleep(1.0)
    assert clients[ended][0].received["video"].frames == frames[ended]
    for call_id in running:
        assert clients[call_id][0].received["video"].frames > frames[call_id]
