"""Calls through signalling nodes that relay no media, over the public contract only (REST,
socket.io, ``rtc:offer`` from real aiortc peers): two ``loket serve --no-media`` processes and
``loket media`` nodes on one PostgreSQL and Redis, the visitor on signalling node A and the
adviser on B."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from db import create_engine, create_session_factory
from media.node import ClusterConfig, Registry
from media.node import keys as node_keys
from recordings import Recording
from tests.conftest import Backend, Client, World, connect_adviser, connect_visitor, make_world
from tests.integration.processes import (
    NodeProcess,
    Serve,
    loket_env,
    media_node_env,
    start_media_node,
    start_serve,
)
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass
class Deployment:
    """Signalling nodes A and B (``--no-media``) and the media nodes, by id."""

    signalling: list[str]
    media: dict[str, NodeProcess]
    world: World
    data_dir: Path
    cluster: ClusterConfig
    _serves: list[Serve] = field(default_factory=list)


@pytest.fixture
async def deploy(
    media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Callable[[int], Awaitable[Deployment]]]:
    started: list[Deployment] = []

    async def start(media_nodes: int) -> Deployment:
        env = loket_env(media_cluster, postgres_url, tmp_path)
        media = {}
        for index in range(media_nodes):
            node_id = f"media-{'abc'[index]}"
            env_node = media_node_env(node_id, media_cluster, postgres_url, tmp_path)
            media[node_id] = start_media_node(node_id, env_node, tmp_path / f"{node_id}.log")
        serves = [
            start_serve(
                {**env, "LOKET_SPOOL_DIR": str(tmp_path / f"serve-{name}" / "spool")},
                tmp_path / f"serve-{name}.log",
                "--no-media",
            )
            for name in ("a", "b")
        ]
        backend = Backend(
            "services", postgres_url, tmp_path, media_cluster.redis_url, media_cluster.redis_prefix
        )
        world = await make_world(backend, recording_policy="ask")
        deployment = Deployment([url for _, url, _ in serves], media, world, tmp_path, media_cluster, serves)
        started.append(deployment)
        return deployment

    yield start
    for deployment in started:
        for process, _, log in deployment._serves:
            process.terminate()
            process.wait(timeout=20)
            log.close()
        for node in deployment.media.values():
            node.close()


Deploy = Callable[[int], Awaitable[Deployment]]


@dataclass
class Party:
    client: Client
    peer: Peer


@dataclass
class PlacedCall:
    call_id: str
    visitor: Party
    adviser: Party


async def call_across_nodes(
    deployment: Deployment, clients: list[Client], new_peer: Callable[[], Peer]
) -> PlacedCall:
    """A visitor on A calls, an adviser on B accepts; both offer and receive audio and video."""
    node_a, node_b = deployment.signalling
    adviser = await connect_adviser(node_b, (await deployment.world.add_user())[0], clients)
    visitor = await connect_visitor(node_a, deployment.world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(deployment.world.queue_id)})
    assert joined["ok"], joined
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    accepted = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert accepted["ok"], accepted
    await visitor.wait_for("call:accepted")
    call = PlacedCall(joined["call_id"], Party(visitor, new_peer()), Party(adviser, new_peer()))
    for party in (call.visitor, call.adviser):
        ack = await party.peer.offer_through(party.client)
        assert ack["ok"], ack
    return call


def both_receiving(call: PlacedCall) -> bool:
    return all(p.peer.receiving("audio", "video") for p in (call.visitor, call.adviser))


async def recordings_of(deployment: Deployment, call_id: str) -> list[Recording]:
    engine = create_engine(deployment.world.backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(select(Recording).where(Recording.call_id == uuid.UUID(call_id)))
            return list(rows)
    finally:
        await engine.dispose()


async def test_a_call_between_two_signalling_nodes_relays_both_ways_and_its_recording_is_stored(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1)
    call = await call_across_nodes(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)

    consented = await call.visitor.client.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    started = await call.adviser.client.call("recording:start")
    assert started["ok"], started
    for party in (call.visitor, call.adviser):
        assert (await party.client.wait_for("recording:state"))["active"] is True
    await asyncio.sleep(3)
    assert (await call.adviser.client.call("recording:stop"))["ok"]

    async def stored() -> list[Recording]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = await recordings_of(deployment, call.call_id)
            if rows and all(row.status == "stored" for row in rows):
                return rows
            await asyncio.sleep(0.5)
        raise AssertionError(f"not stored: {[(r.participant, r.status, r.last_error) for r in rows]}")

    rows = await stored()
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
    deployment = await deploy(2)
    calls = [await call_across_nodes(deployment, clients, new_peer) for _ in range(3)]
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
