"""The live state of an organisation's calls and advisers in the realtime store, and the rule
every change to it keeps.

The locking rule: every state change of an organisation's calls and advisers happens under
that organisation's lock in the realtime store (``LiveState.locked``), so several signalling
nodes sharing one Redis never ring two advisers for one call or one adviser for two calls.
The database keeps the durable record of each call; the store keeps the live state. Events
are collected in a ``Mail`` while the lock is held and sent (``LiveState.deliver``) after it
is released.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from signaling.errors import Busy
from signaling.outbox import Outbox, SessionId
from signaling.state import AdviserState, CallState
from signaling.store import LockNotTaken, RealtimeStore, keys

# Events owed to sessions, collected under the lock: (to, event, data).
Mail = list[tuple[SessionId, str, dict[str, Any]]]


def visitor_session(subject: str) -> SessionId:
    return SessionId("visitor", subject)


def adviser_session(user_id: str) -> SessionId:
    return SessionId("adviser", user_id)


class LiveState:
    """Typed reads and writes of the live calls and advisers, the organisation lock, and the
    delivery of the mail collected under it."""

    def __init__(self, store: RealtimeStore, outbox: Outbox, *, lock_seconds: float = 10.0) -> None:
        self.store = store
        self._outbox = outbox
        self._lock_seconds = lock_seconds

    @asynccontextmanager
    async def locked(self, org_id: str) -> AsyncIterator[None]:
        """The organisation's lock: hold it for every change of its calls and advisers.

        Not had within ``lock_seconds``: ``Busy`` (nothing was done; try again). Held past
        them: ``LockTimeout`` from the store (the change was not exclusive: a fault)."""
        try:
            async with self.store.lock(keys.org_lock(org_id), timeout=self._lock_seconds):
                yield
        except LockNotTaken as exc:
            raise Busy("the organisation is busy; try again in a moment") from exc

    async def deliver(self, mail: Mail) -> None:
        """Send what was collected under the lock; call it after the lock is released."""
        for session, event, data in mail:
            await self._outbox.send(session, event, data)

    async def call(self, call_id: str) -> CallState | None:
        raw = await self.store.hgetall(keys.call(call_id))
        return CallState.from_hash(raw) if raw else None

    async def save_call(self, call: CallState) -> None:
        await self.store.hset(keys.call(call.id), call.to_hash())

    async def advisers(self, org_id: str) -> dict[str, AdviserState]:
        raw = await self.store.hgetall(keys.advisers(org_id))
        return {user_id: AdviserState.from_json(value) for user_id, value in raw.items()}

    async def adviser(self, org_id: str, user_id: str) -> AdviserState | None:
        raw = await self.store.hget(keys.advisers(org_id), user_id)
        return AdviserState.from_json(raw) if raw else None

    async def save_adviser(self, org_id: str, adviser: AdviserState) -> None:
        await self.store.hset(keys.advisers(org_id), {adviser.user_id: adviser.to_json()})

    async def remove_adviser(self, org_id: str, user_id: str) -> None:
        await self.store.hdel(keys.advisers(org_id), user_id)

    async def visitor_call_id(self, session: SessionId) -> str | None:
        """The call of a visitor session: ``""`` once it ended, ``None`` before it joined."""
        return await self.store.hget(keys.session(session.room), "call_id")

    async def current_call(self, org_id: str, session: SessionId) -> CallState | None:
        """The session's call in any state, or ``None`` when it has none."""
        if session.kind == "visitor":
            call_id = await self.visitor_call_id(session)
        else:
            adviser = await self.adviser(org_id, session.subject)
            call_id = adviser.call_id if adviser else None
        return await self.call(call_id) if call_id else None
