"""Ringing and the advisers' snapshots read only the calls of queues an adviser serves: a backlog
in a queue nobody serves costs a join elsewhere nothing (``python -m bench.sockets``: 5,000
visitors waiting in such a queue were read on every join and leave, and every second; both
backend pairs)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from accounts import directory
from db import create_engine, create_session_factory
from signaling.state import Presence
from tests.conftest import Backend, make_world
from tests.signaling.nodes import cluster, staff, visitor


async def _queue(backend: Backend, org_id: uuid.UUID, name: str) -> uuid.UUID:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            queue = await directory.create_queue(db, org_id=org_id, actor="test", name=name)
            await db.commit()
            return queue.id
    finally:
        await engine.dispose()


async def test_a_join_reads_none_of_the_calls_waiting_where_no_free_adviser_serves(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(backend)
    hold = await _queue(backend, world.org_id, "Hold")  # nobody serves it
    _, user_id = await world.add_user("adviser", queue_ids=[world.queue_id])
    async with cluster(backend) as nodes:
        node = nodes.node("node-a")
        adviser = staff(world.org_id, user_id)
        await node.adviser_connected(adviser)
        await node.set_presence(adviser, Presence.AVAILABLE)
        for _ in range(100):
            nodes.clock.now += 0.001
            waiting = visitor(world.org_id)
            await node.visitor_connected(waiting)
            await node.join(waiting, hold, None)
        assert nodes.sent.named("call:incoming") == []

        reads: list[str] = []
        hgetall = nodes.store.hgetall

        async def counted(key: str) -> Any:
            reads.append(key)
            return await hgetall(key)

        monkeypatch.setattr(nodes.store, "hgetall", counted)
        joining = visitor(world.org_id)
        await node.visitor_connected(joining)
        call_id = (await node.join(joining, world.queue_id, None))["call_id"]
        # The adviser is rung for the new call at once...
        assert [data["call_id"] for data in nodes.sent.to(f"adviser:{user_id}", "call:incoming")] == [call_id]
        # ... and the join read a handful of hashes (its session, the adviser's, its call), not
        # the 100 calls waiting in Hold.
        assert len(reads) < 10, reads

        # Nor does the adviser's next queue:snapshot (once a second) read them.
        reads.clear()
        nodes.sent.events.clear()
        nodes.clock.now += 2.0
        await node.tick()
        assert nodes.sent.to(f"adviser:{user_id}", "queue:snapshot"), "a snapshot was due"
        assert len(reads) < 10, reads
