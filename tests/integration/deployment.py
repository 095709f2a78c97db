"""A deployment of Loket's own processes for integration tests, and calls through it over the
public contract only (REST, socket.io, ``rtc:offer`` from synthetic aiortc peers).

``deploy(media_nodes, signalling_nodes=1, media_env={})`` starts ``loket media`` nodes
(``media-a``, ``media-b``, ...) and ``loket serve --no-media`` signalling nodes on one
PostgreSQL and Redis, and an organisation with a queue; ``start_call`` pairs a visitor and an
adviser (on the first and last signalling node) and has both offer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import select

from db import create_engine, create_session_factory
from db.keys import InstallationKeys
from media.node import ClusterConfig, Registry
from privacy import call_data_key, open_text
from recordings import Recording, parse_master_key
from signaling.models import ChatMessage
from tests.conftest import Backend, Client, World, connect_adviser, connect_visitor, make_world
from tests.integration.processes import (
    MASTER_KEY,
    NodeProcess,
    Serve,
    loket_env,
    media_node_env,
    media_node_ready,
    serve_ready,
    spawn_media_node,
    spawn_serve,
    start_media_node,
)
from tests.signaling.conftest import Peer

NODE_LETTERS = "abcdef"


@dataclass
class Deployment:
    """Signalling nodes (their URLs) and media nodes (by id) of one test."""

    signalling: list[str]
    media: dict[str, NodeProcess]
    world: World
    data_dir: Path
    cluster: ClusterConfig
    media_env: dict[str, str] = field(default_factory=dict)
    serves: list[Serve] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The first signalling node."""
        return self.signalling[0]

    def node_env(self, node_id: str) -> dict[str, str]:
        """The environment ``node_id`` runs with (to start it again)."""
        database_url = self.world.backend.database_url
        return {**media_node_env(node_id, self.cluster, database_url, self.data_dir), **self.media_env}

    def restart_node(self, node_id: str) -> NodeProcess:
        """Start ``node_id`` again (after it was killed), with the same id and spool."""
        self.media[node_id].close()
        self.media[node_id] = start_media_node(
            node_id, self.node_env(node_id), self.data_dir / f"{node_id}-{time.monotonic_ns()}.log"
        )
        return self.media[node_id]


class Deploy(Protocol):
    async def __call__(
        self, media_nodes: int, *, signalling_nodes: int = 1, media_env: Mapping[str, str] | None = None
    ) -> Deployment: ...


@pytest.fixture
async def deploy(media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path) -> AsyncIterator[Deploy]:
    started: list[Deployment] = []

    async def start(
        media_nodes: int, *, signalling_nodes: int = 1, media_env: Mapping[str, str] | None = None
    ) -> Deployment:
        backend = Backend(
            "services", postgres_url, tmp_path, media_cluster.redis_url, media_cluster.redis_prefix
        )
        world = await make_world(backend, recording_policy="ask")
        deployment = Deployment([], {}, world, tmp_path, media_cluster, dict(media_env or {}))
        started.append(deployment)
        # Every process is spawned before any is waited for: their start-ups overlap.
        nodes = [
            spawn_media_node(node_id, deployment.node_env(node_id), tmp_path / f"{node_id}.log")
            for node_id in (f"media-{letter}" for letter in NODE_LETTERS[:media_nodes])
        ]
        env = loket_env(media_cluster, postgres_url, tmp_path)
        serves = [
            spawn_serve(
                {**env, "LOKET_SPOOL_DIR": str(tmp_path / f"serve-{letter}" / "spool")},
                tmp_path / f"serve-{letter}.log",
                "--no-media",
            )
            for letter in NODE_LETTERS[:signalling_nodes]
        ]
        try:
            for node in nodes:
                deployment.media[node.name] = await asyncio.to_thread(media_node_ready, node)
            for starting in serves:
                serve = await asyncio.to_thread(serve_ready, starting)
                deployment.serves.append(serve)
                deployment.signalling.append(serve[1])
        except BaseException:
            for starting in [*nodes, *serves]:
                if starting.process.poll() is None:
                    starting.process.kill()
                    starting.process.wait(timeout=10)
            raise
        return deployment

    yield start
    # Every process is told to stop before any is waited for: their shutdowns overlap.
    for deployment in started:
        for process, _, _ in deployment.serves:
            process.terminate()
        for node in deployment.media.values():
            if node.process.poll() is None:
                node.process.terminate()
    for deployment in started:
        for process, _, log in deployment.serves:
            process.wait(timeout=20)
            log.close()
        for node in deployment.media.values():
            node.process.wait(timeout=20)
            node.close()


@dataclass
class Side:
    """One party: its socket.io client and its peer connection."""

    client: Client
    peer: Peer


@dataclass
class PlacedCall:
    call_id: str
    reference: str
    visitor: Side
    adviser: Side

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.visitor, self.adviser


async def start_call(
    deployment: Deployment, clients: list[Client], new_peer: Callable[[], Peer], *, offer: bool = True
) -> PlacedCall:
    """A visitor on the first signalling node calls, an adviser on the last accepts; both
    offer (their answers applied) unless ``offer`` is false."""
    adviser = await connect_adviser(
        deployment.signalling[-1], (await deployment.world.add_user())[0], clients
    )
    visitor = await connect_visitor(deployment.signalling[0], deployment.world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(deployment.world.queue_id)})
    assert joined["ok"], joined
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    accepted = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert accepted["ok"], accepted
    await visitor.wait_for("call:accepted")
    call = PlacedCall(
        joined["call_id"], joined["reference"], Side(visitor, new_peer()), Side(adviser, new_peer())
    )
    for side in call.sides if offer else ():
        ack = await side.peer.offer_through(side.client)
        assert ack["ok"], ack
    return call


async def renegotiate(sides: tuple[Side, Side], new_peer: Callable[[], Peer]) -> list[Side]:
    """Both parties make a new peer connection and offer afresh, as the widget and console do
    when told ``media:renegotiate``."""
    fresh = [Side(side.client, new_peer()) for side in sides]
    for side in fresh:
        ack = await side.peer.offer_through(side.client)
        assert ack["ok"], ack
    return fresh


def both_receiving(call: PlacedCall) -> bool:
    return all(side.peer.receiving("audio", "video") for side in call.sides)


async def owner(cluster: ClusterConfig, call_id: str) -> str | None:
    """The media node the call is placed on (``keys.CLOSED`` once closed)."""
    registry = Registry(cluster)
    await registry.start()
    try:
        return await registry.owner(call_id)
    finally:
        await registry.stop()


async def recordings_of(deployment: Deployment, call_id: str) -> list[Recording]:
    engine = create_engine(deployment.world.backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(select(Recording).where(Recording.call_id == uuid.UUID(call_id)))
            return list(rows)
    finally:
        await engine.dispose()


async def chat_lines(deployment: Deployment, call_id: str) -> list[str]:
    """The call's chat, opened with its data key as the processes' master key can (lines are
    stored sealed: privacy.call_keys)."""
    engine = create_engine(deployment.world.backend.database_url)
    keys = InstallationKeys(master_key=parse_master_key(MASTER_KEY))
    try:
        async with create_session_factory(engine, keys=keys)() as db:
            call = uuid.UUID(call_id)
            rows = await db.scalars(
                select(ChatMessage).where(ChatMessage.call_id == call).order_by(ChatMessage.created_at)
            )
            key = await call_data_key(db, call, create=False)
            return [open_text(key, call, row.id, row.text) for row in rows]
    finally:
        await engine.dispose()


async def stored_recordings(
    deployment: Deployment, call_id: str, count: int, *, timeout: float = 40.0
) -> list[Recording]:
    """Wait until the call has ``count`` recordings, all stored."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await recordings_of(deployment, call_id)
        if len(rows) == count and all(row.status == "stored" for row in rows):
            return rows
        state = [(r.participant, r.spool_node, r.status, r.last_error) for r in rows]
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.5)
