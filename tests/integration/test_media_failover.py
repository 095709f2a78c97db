"""Failover: a call outlives its media node. Real processes on one PostgreSQL and Redis: one
``loket serve --no-media`` and ``loket media`` nodes; two aiortc peers in a call; the call's node
is SIGKILLed mid-call."""

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
from recordings import Recording
from signaling.models import ChatMessage
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
    url: str
    media: dict[str, NodeProcess]
    world: World
    cluster: ClusterConfig
    _serve: list[Serve] = field(default_factory=list)


@pytest.fixture
async def deploy(
    media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Callable[[int], Awaitable[Deployment]]]:
    started: list[Deployment] = []

    async def start(media_nodes: int) -> Deployment:
        env = loket_env(media_cluster, postgres_url, tmp_path)
        media = {}
        for index in range(media_nodes):
            node_id = f"media-{'ab'[index]}"
            env_node = media_node_env(node_id, media_cluster, postgres_url, tmp_path)
            media[node_id] = start_media_node(node_id, env_node, tmp_path / f"{node_id}.log")
        serve = start_serve(
            {**env, "LOKET_SPOOL_DIR": str(tmp_path / "serve" / "spool")},
            tmp_path / "serve.log",
            "--no-media",
        )
        backend = Backend(
            "services", postgres_url, tmp_path, media_cluster.redis_url, media_cluster.redis_prefix
        )
        world = await make_world(backend, recording_policy="ask")
        deployment = Deployment(serve[1], media, world, media_cluster, [serve])
        started.append(deployment)
        return deployment

    yield start
    for deployment in started:
        for process, _, log in deployment._serve:
            process.terminate()
            process.wait(timeout=20)
            log.close()
        for node in deployment.media.values():
            node.close()


Deploy = Callable[[int], Awaitable[Deployment]]


@dataclass
class Side:
    client: Client
    peer: Peer


async def start_call(
    deployment: Deployment, clients: list[Client], new_peer: Callable[[], Peer]
) -> tuple[str, str, Side, Side]:
    """(call id, reference, visitor, adviser): accepted, both offered."""
    adviser = await connect_adviser(deployment.url, (await deployment.world.add_user())[0], clients)
    visitor = await connect_visitor(deployment.url, deployment.world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(deployment.world.queue_id)})
    assert joined["ok"], joined
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    sides = Side(visitor, new_peer()), Side(adviser, new_peer())
    for side in sides:
        ack = await side.peer.offer_through(side.client)
        assert ack["ok"], ack
    return joined["call_id"], joined["reference"], *sides


async def owner(cluster: ClusterConfig, call_id: str) -> str | None:
    registry = Registry(cluster)
    await registry.start()
    try:
        return await registry.owner(call_id)
    finally:
        await registry.stop()


async def chat_lines(deployment: Deployment, call_id: str) -> list[str]:
    engine = create_engine(deployment.world.backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(
                select(ChatMessage)
                .where(ChatMessage.call_id == uuid.UUID(call_id))
                .order_by(ChatMessage.created_at)
            )
            return [row.text for row in rows]
    finally:
        await engine.dispose()


async def recordings_of(deployment: Deployment, call_id: str) -> list[Recording]:
    engine = create_engine(deployment.world.backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(select(Recording).where(Recording.call_id == uuid.UUID(call_id)))
            return list(rows)
    finally:
        await engine.dispose()


async def test_a_call_moves_to_another_media_node_when_its_node_is_killed(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(2)
    call_id, reference, visitor, adviser = await start_call(deployment, clients, new_peer)
    sides = (visitor, adviser)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in sides), timeout=15)
    assert (await visitor.client.call("chat:send", {"text": "before"}))["ok"]
    await adviser.client.wait_for("chat:message")

    first = await owner(deployment.cluster, call_id)
    assert first in deployment.media
    killed_at = time.monotonic()
    deployment.media[first].kill()

    for side in sides:
        told = await side.client.wait_for("media:renegotiate", timeout=10)
        assert told["reason"] == "media_node_lost" and told["call_id"] == call_id
        assert isinstance(told["seq"], int)
    told_after = time.monotonic() - killed_at
    second = await owner(deployment.cluster, call_id)
    assert second in deployment.media and second != first

    # Both parties make a new peer connection and offer afresh, as the widget and console do.
    fresh = [Side(side.client, new_peer()) for side in sides]
    for side in fresh:
        ack = await side.peer.offer_through(side.client)
        assert ack["ok"], ack
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in fresh), timeout=10)
    media_back_after = time.monotonic() - killed_at
    print(
        f"\nfailover: media:renegotiate {told_after:.2f} s, media flowing again "
        f"{media_back_after:.2f} s after SIGKILL of {first} (now on {second})"
    )
    assert media_back_after <= 10, media_back_after

    # The same call: same id and reference, chat goes on, history intact.
    assert (await adviser.client.call("chat:send", {"text": "after"}))["ok"]
    await visitor.client.wait_for("chat:message", text="after")
    assert await chat_lines(deployment, call_id) == ["before", "after"]
    assert not visitor.client.received("call:ended") and not adviser.client.received("call:ended")

    assert (await visitor.client.call("call:end"))["ok"]
    ended = await adviser.client.wait_for("call:ended")
    assert ended["call_id"] == call_id and ended["reference"] == reference


async def test_a_call_ends_with_media_unavailable_when_no_media_node_is_left(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1)
    call_id, _, visitor, adviser = await start_call(deployment, clients, new_peer)
    sides = (visitor, adviser)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in sides), timeout=15)

    deployment.media["media-a"].kill()
    for side in sides:
        ended = await side.client.wait_for("call:ended", timeout=10)
        assert ended["call_id"] == call_id and ended["reason"] == "media_unavailable"
    assert not visitor.client.received("media:renegotiate")


async def test_a_recording_in_progress_goes_on_in_a_new_file_and_both_files_are_stored(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer], tmp_path: Path, postgres_url: str
) -> None:
    deployment = await deploy(2)
    call_id, _, visitor, adviser = await start_call(deployment, clients, new_peer)
    sides = (visitor, adviser)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in sides), timeout=15)
    consented = await visitor.client.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    assert (await adviser.client.call("recording:start"))["ok"]
    await asyncio.sleep(3)

    first = await owner(deployment.cluster, call_id)
    assert first is not None
    deployment.media[first].kill()
    for side in sides:
        await side.client.wait_for("media:renegotiate", timeout=10)
    fresh = [Side(side.client, new_peer()) for side in sides]
    for side in fresh:
        assert (await side.peer.offer_through(side.client))["ok"]
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in fresh), timeout=10)
    await asyncio.sleep(3)
    assert (await adviser.client.call("recording:stop"))["ok"]

    # The first files are in the dead node's spool: it uploads them when it starts again.
    deployment.media[first].close()  # killed: closes its pipe and log
    env = media_node_env(first, deployment.cluster, postgres_url, tmp_path)
    deployment.media[first] = start_media_node(first, env, tmp_path / f"{first}-again.log")

    deadline = time.monotonic() + 40
    while True:
        rows = await recordings_of(deployment, call_id)
        if len(rows) == 4 and all(row.status == "stored" for row in rows):
            break
        state = [(r.participant, r.spool_node, r.status, r.last_error) for r in rows]
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.5)
    by_node: dict[str | None, list[str]] = {}
    for row in rows:
        by_node.setdefault(row.spool_node, []).append(row.participant)
        print(f"stored: {row.spool_node} {row.participant} {row.bytes} B, {row.duration_seconds} s")
    for row in rows:
        assert row.bytes and row.bytes > 1000, (row.spool_node, row.bytes)
    assert {node: sorted(parties) for node, parties in by_node.items()} == {
        first: ["adviser", "visitor"],
        next(n for n in deployment.media if n != first): ["adviser", "visitor"],
    }
