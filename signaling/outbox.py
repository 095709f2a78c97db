"""Server→client events with a per-session ``seq`` and a short log for ``session:resume``.

A *session* outlives its socket.io connections: a visitor's is their token subject, an
adviser's is their user id. Every event to a session gets the next ``seq`` and is kept in
the session's log for the resume window, so a client that reconnects can ask for what it
missed. Clients ignore events whose ``seq`` they have already seen (a replay may overlap
live delivery by an event or two).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from signaling.store import RealtimeStore, keys

# (event, data, room, namespace): python-socketio's AsyncServer.emit, or a test's recorder.
Emit = Callable[[str, dict[str, Any], str, str], Awaitable[None]]

LOG_LENGTH = 200


@dataclass(frozen=True, slots=True)
class SessionId:
    """``kind`` is ``visitor`` or ``adviser``; the value doubles as the socket.io room name."""

    kind: str
    subject: str

    def __post_init__(self) -> None:
        if self.kind not in ("visitor", "adviser"):
            raise ValueError(f"unknown session kind {self.kind!r}")

    @property
    def room(self) -> str:
        return f"{self.kind}:{self.subject}"

    @property
    def namespace(self) -> str:
        return f"/{self.kind}"

    @classmethod
    def parse(cls, room: str) -> SessionId:
        kind, _, subject = room.partition(":")
        return cls(kind, subject)


class Outbox:
    def __init__(self, store: RealtimeStore, emit: Emit, *, log_seconds: float) -> None:
        self._store = store
        self._emit = emit
        # The log must outlive the resume window; twice is margin for clock and tick delays.
        self._log_seconds = max(log_seconds * 2, 60.0)

    async def send(self, session: SessionId, event: str, data: dict[str, Any]) -> int:
        seq = await self._store.incr(keys.seq(session.room))
        await self._store.expire(keys.seq(session.room), self._log_seconds * 10)
        payload = {**data, "seq": seq}
        await self._store.rpush_capped(
            keys.log(session.room),
            json.dumps({"event": event, "data": payload}),
            LOG_LENGTH,
            self._log_seconds,
        )
        await self._emit(event, payload, session.room, session.namespace)
        return seq

    async def missed(self, session: SessionId, last_seq: int) -> list[tuple[str, dict[str, Any]]] | None:
        """Events after ``last_seq`` in order, or None when some were already forgotten."""
        entries = [json.loads(raw) for raw in await self._store.lrange(keys.log(session.room))]
        missed = [(e["event"], e["data"]) for e in entries if e["data"]["seq"] > last_seq]
        current = int(await self._store.get(keys.seq(session.room)) or 0)
        first_kept = entries[0]["data"]["seq"] if entries else current + 1
        if last_seq < current and first_kept > last_seq + 1:
            return None
        return missed
