"""Server→client events with a per-session ``seq`` and a short log for ``session:resume``.

A *session* outlives its socket.io connections: a visitor's is their token subject, an
adviser's is their user id. Every event to a session gets the next ``seq`` and is kept in
the session's log for the resume window, so a client that reconnects can ask for what it
missed. Clients ignore events whose ``seq`` they have already seen (a replay may overlap
live delivery by an event or two).

**Credentials in the log.** The log lives in the realtime store (Redis in production), which is
not where a visitor's credential may lie in clear: the ``privacy_key`` of a visitor's
``call:ended`` (``SEALED_FIELDS``) is stored sealed, AES-256-GCM under a key derived from the
master key (``resume-log/v1``, given as ``log_key``) with the session's room, the event and
its ``seq`` as associated data, so it opens only in a replay to that same session (and a copy
of the store alone reveals nothing). Without a ``log_key`` the field is left out of the log:
the live event and the ack still carry it, a replay does not. A sealed field that does not open
(the master key changed within the window) is left out of the replay the same way.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from signaling.store import RealtimeStore, keys

# (event, data, room, namespace): python-socketio's AsyncServer.emit, or a test's recorder.
Emit = Callable[[str, dict[str, Any], str, str], Awaitable[None]]

LOG_LENGTH = 200
# Fields never kept in the resume log in clear: a visitor's one credential for their call's data.
SEALED_FIELDS = frozenset({"privacy_key"})
# The purpose its key is derived for from the master key (db.keys.derive_key).
LOG_KEY_PURPOSE = "resume-log/v1"
_SEALED = "_sealed"
_NONCE_BYTES = 12


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
    def __init__(
        self, store: RealtimeStore, emit: Emit, *, log_seconds: float, log_key: bytes | None = None
    ) -> None:
        self._store = store
        self._emit = emit
        self._log_cipher = AESGCM(log_key) if log_key is not None else None
        # The log must outlive the resume window; twice is margin for clock and tick delays.
        self._log_seconds = max(log_seconds * 2, 60.0)

    async def send(self, session: SessionId, event: str, data: dict[str, Any]) -> int:
        seq = await self._store.incr(keys.seq(session.room))
        await self._store.expire(keys.seq(session.room), self._log_seconds * 10)
        payload = {**data, "seq": seq}
        await self._store.rpush_capped(
            keys.log(session.room),
            json.dumps({"event": event, "data": self._for_log(session, event, payload)}),
            LOG_LENGTH,
            self._log_seconds,
        )
        await self._emit(event, payload, session.room, session.namespace)
        return seq

    async def missed(self, session: SessionId, last_seq: int) -> list[tuple[str, dict[str, Any]]] | None:
        """Events after ``last_seq`` in order, or None when some were already forgotten."""
        entries = [json.loads(raw) for raw in await self._store.lrange(keys.log(session.room))]
        missed = [
            (e["event"], self._from_log(session, e["event"], e["data"]))
            for e in entries
            if e["data"]["seq"] > last_seq
        ]
        current = int(await self._store.get(keys.seq(session.room)) or 0)
        first_kept = entries[0]["data"]["seq"] if entries else current + 1
        if last_seq < current and first_kept > last_seq + 1:
            return None
        return missed

    def _aad(self, session: SessionId, event: str, seq: int) -> bytes:
        return f"loket/resume-log/v1\x00{session.room}\x00{event}\x00{seq}".encode()

    def _for_log(self, session: SessionId, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` as the log keeps it: ``SEALED_FIELDS`` sealed (or left out without a key)."""
        secret = {name: payload[name] for name in SEALED_FIELDS & payload.keys()}
        if not secret:
            return payload
        kept = {name: value for name, value in payload.items() if name not in secret}
        if self._log_cipher is not None:
            nonce = secrets.token_bytes(_NONCE_BYTES)
            sealed = self._log_cipher.encrypt(
                nonce, json.dumps(secret).encode(), self._aad(session, event, payload["seq"])
            )
            kept[_SEALED] = base64.urlsafe_b64encode(nonce + sealed).decode()
        return kept

    def _from_log(self, session: SessionId, event: str, logged: dict[str, Any]) -> dict[str, Any]:
        """A logged payload as it was sent (a sealed field that does not open is left out)."""
        if _SEALED not in logged:
            return logged
        payload = {name: value for name, value in logged.items() if name != _SEALED}
        if self._log_cipher is None:
            return payload
        raw = base64.urlsafe_b64decode(logged[_SEALED])
        try:
            opened = self._log_cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(session, event, logged["seq"])
            )
        except InvalidTag:
            return payload
        secret: dict[str, Any] = json.loads(opened)
        return {**payload, **secret}
