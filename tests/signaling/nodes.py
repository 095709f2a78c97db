"""Switchboards as signalling nodes sharing one realtime store and one database, with a clock
the test moves and an outbox that records every event sent (the tests of faults and of queue
updates drive them directly, without sockets)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import StaffClaims, VisitorClaims
from db import SessionFactory, create_engine, create_session_factory
from db.keys import InstallationKeys
from signaling.config import SignalingConfig
from signaling.models import Call
from signaling.outbox import Outbox
from signaling.store import MemoryStore, RealtimeStore, RedisStore
from signaling.switchboard import Switchboard
from tests.conftest import Backend


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sent:
    """Every event the nodes sent: (room, event, data)."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, event: str, data: dict[str, Any], room: str, namespace: str) -> None:
        self.events.append((room, event, data))

    def to(self, room: str, event: str) -> list[dict[str, Any]]:
        return [data for r, e, data in self.events if r == room and e == event]

    def named(self, event: str) -> list[tuple[str, dict[str, Any]]]:
        return [(r, data) for r, e, data in self.events if e == event]


class FlakyDatabase:
    """The database as the switchboard sees it, which can be made to refuse every session
    (PostgreSQL restarting)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self.down = False

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        if self.down:
            raise ConnectionRefusedError("the database is restarting")
        return self._sessions()


@dataclass
class Cluster:
    store: RealtimeStore
    database: FlakyDatabase
    clock: Clock
    sent: Sent
    config: SignalingConfig
    nodes: list[Switchboard] = field(default_factory=list)

    def node(self, name: str) -> Switchboard:
        outbox = Outbox(self.store, self.sent.emit, log_seconds=self.config.resume_window_seconds)
        switchboard = Switchboard(
            store=self.store,
            outbox=outbox,
            sessions=cast(SessionFactory, self.database),
            config=self.config,
            clock=self.clock,
            node_id=name,
        )
        self.nodes.append(switchboard)
        return switchboard

    async def call_row(self, call_id: str) -> Call:
        async with self.database() as db:
            row = await db.scalar(select(Call).where(Call.id == uuid.UUID(call_id)))
            assert row is not None
            return row


def visitor(org_id: uuid.UUID) -> VisitorClaims:
    return VisitorClaims(visitor_id=uuid.uuid4().hex, org_id=org_id)


def staff(org_id: uuid.UUID, user_id: uuid.UUID) -> StaffClaims:
    return StaffClaims(user_id=user_id, org_id=org_id, role="adviser")


@asynccontextmanager
async def cluster(backend: Backend, **config: Any) -> AsyncIterator[Cluster]:
    """Nodes made with ``Cluster.node`` share the backend's store (memory or Redis) and database."""
    store: RealtimeStore = (
        RedisStore(backend.redis_url, prefix=backend.redis_prefix) if backend.redis_url else MemoryStore()
    )
    await store.start()
    engine = create_engine(backend.database_url)
    settings = {
        "resume_window_seconds": 5.0,
        "ring_timeout_seconds": 20.0,
        "node_ttl_seconds": 10.0,
        **config,
    }
    made = Cluster(
        store=store,
        # Installation keys as the app has them (privacy keys are encrypted at rest).
        database=FlakyDatabase(
            create_session_factory(engine, keys=InstallationKeys(secrets.token_bytes(32)))
        ),
        clock=Clock(),
        sent=Sent(),
        config=SignalingConfig(secret_key="test-secret-key-that-is-long-enough-0123456789", **settings),
    )
    try:
        yield made
    finally:
        for node in made.nodes:
            await node.stop()
        await store.stop()
        await engine.dispose()
