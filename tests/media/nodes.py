"""Fixtures for media-node tests: the cluster's settings in the test's own Redis prefix, real
nodes (internal server on 127.0.0.1), remote placements, and a raw Redis client to look at
or spoil the registry. ``tests/media/conftest.py`` makes the fixtures available."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiortc import RTCSessionDescription
from redis.asyncio import Redis

from media import MediaConfig, Party
from media.node import ClusterConfig, MediaNode, NodeConfig, NodeInfo, Registry
from media.remote import RemotePlacement

if TYPE_CHECKING:
    from tests.media.conftest import Client

SECRET = "media-node-tests-secret-0123456789abcdef"


@pytest.fixture
def media_cluster(redis_url: str, redis_prefix: str) -> ClusterConfig:
    return ClusterConfig(redis_url=redis_url, redis_prefix=redis_prefix, secret=SECRET)


@pytest.fixture
async def media_redis(media_cluster: ClusterConfig) -> AsyncIterator[Redis]:
    client = Redis.from_url(media_cluster.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def media_registry(media_cluster: ClusterConfig) -> AsyncIterator[Registry]:
    registry = Registry(media_cluster)
    await registry.start()
    yield registry
    await registry.stop()


StartNode = Callable[..., Awaitable[MediaNode]]


@pytest.fixture
async def start_node(
    media_cluster: ClusterConfig, media_config: MediaConfig, tmp_path: Path
) -> AsyncIterator[StartNode]:
    nodes: list[MediaNode] = []

    async def start(node_id: str, **cluster_changes: Any) -> MediaNode:
        node = MediaNode(
            config=NodeConfig(node_id=node_id, spool_dir=tmp_path / node_id),
            cluster=dataclasses.replace(media_cluster, **cluster_changes),
            media=media_config,
        )
        nodes.append(node)
        await node.start()
        return node

    yield start
    for node in nodes:
        await node.stop()


StartPlacement = Callable[..., Awaitable[RemotePlacement]]


@pytest.fixture
async def start_placement(media_cluster: ClusterConfig) -> AsyncIterator[StartPlacement]:
    placements: list[RemotePlacement] = []

    async def start(**cluster_changes: Any) -> RemotePlacement:
        placement = RemotePlacement(dataclasses.replace(media_cluster, **cluster_changes))
        placements.append(placement)
        await placement.start()
        return placement

    yield start
    for placement in placements:
        await placement.stop()


async def announce(registry: Registry, node_id: str, *, load: float = 0.0) -> None:
    """Register a node that serves nothing (placement only reads the registry)."""
    await registry.heartbeat(NodeInfo(node_id=node_id, url="http://127.0.0.1:9", load=load), [])


async def offer(placement: RemotePlacement, call_id: str, party: Party, client: Client) -> None:
    await client.pc.setLocalDescription(await client.pc.createOffer())
    local = client.pc.localDescription
    sdp, sdp_type = await placement.answer(call_id, party, local.sdp, local.type)
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))


async def collect(events: list[tuple[str, str]], placement: RemotePlacement) -> None:
    """Append every ended event ``placement`` hands out (run as a task; cancel to stop)."""
    stream = placement.ended()
    try:
        async for event in stream:
            events.append(event)
    finally:
        await stream.aclose()


async def cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
