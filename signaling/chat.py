"""Chat between the two parties of an active call.

A line is stored first (``chat_messages``, with its ``delete_after`` from the call's chat
retention rule), then sent as ``chat:message`` to both parties through the outbox, so a
party that was briefly disconnected gets it again on ``session:resume``. Only the visitor
and the adviser of an *active* call can chat; each session is rate-limited.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from accounts import ratelimit
from accounts.config import RateLimit
from db import SessionFactory, utcnow
from db.outage import while_unreachable
from privacy import RetentionKind, call_data_key, retention_for_call, seal_text
from signaling.errors import Conflict, InvalidInput
from signaling.models import CallStatus, ChatMessage
from signaling.outbox import Outbox, SessionId
from signaling.state import CallState
from signaling.store import RealtimeStore, keys

MAX_TEXT = 2000


class ActiveCalls(Protocol):
    """Where a session's current call is looked up (the switchboard)."""

    async def current_call(self, session: SessionId, org_id: uuid.UUID) -> CallState | None: ...


class Chat:
    """Stores and relays ``chat:send`` of either party as ``chat:message`` to both."""

    def __init__(
        self,
        *,
        calls: ActiveCalls,
        outbox: Outbox,
        sessions: SessionFactory,
        store: RealtimeStore,
        limit: RateLimit,
    ) -> None:
        self._calls = calls
        self._outbox = outbox
        self._sessions = sessions
        self._store = store
        self._limit = limit

    async def send(self, session: SessionId, org_id: uuid.UUID, text: str) -> dict[str, Any]:
        """Store ``text`` from ``session`` and deliver it to both parties; the ack's fields."""
        text = text.strip()
        if not text:
            raise InvalidInput("a message cannot be empty", code="empty_message")
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"messages are limited to {MAX_TEXT} characters", code="message_too_long")
        await ratelimit.hit(self._store, keys.chat_rate(session.room), self._limit)
        call = await self._calls.current_call(session, org_id)
        if call is None or call.status != CallStatus.ACTIVE or not call.adviser_id:
            raise Conflict("chat is open during an accepted call", code="not_active")
        party = "visitor" if session.kind == "visitor" else "adviser"
        sent_at = utcnow()
        call_id = uuid.UUID(call.id)
        # Its id before the first try: a try whose commit answer was lost cannot store it twice.
        message_id = uuid.uuid4()

        async def store() -> None:
            async with self._sessions() as db:
                retention = await retention_for_call(db, call_id, RetentionKind.CHAT)
                # Stored sealed with the call's data key, so shredding the key erases every copy.
                data_key = await call_data_key(db, call_id, create=True)
                db.add(
                    ChatMessage(
                        id=message_id,
                        call_id=call_id,
                        party=party,
                        text=seal_text(data_key, call_id, message_id, text),
                        created_at=sent_at,
                        delete_after=retention.deadline(sent_at),
                    )
                )
                await db.commit()

        # The database restarting: the line waits for it (the ack comes once it is stored).
        await while_unreachable(store)
        event = {
            "id": str(message_id),
            "call_id": call.id,
            "from": party,
            "text": text,
            "sent_at": sent_at.isoformat(),
        }
        for to in (SessionId("visitor", call.visitor), SessionId("adviser", call.adviser_id)):
            await self._outbox.send(to, "chat:message", event)
        return {"id": event["id"], "sent_at": event["sent_at"]}
