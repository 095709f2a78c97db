"""Photos in a call: a visitor's photo or an adviser's snapshot of the visitor's video.

Promise: only a sanitised re-encoding is stored (``sanitize``), sealed under its own data key
wrapped by the master key (``privacy.attachments``), with a ``delete_after`` from the call's
``attachments`` retention; then ``attachment:added`` goes to both parties through the outbox
(replayed on resume), so both see it in the chat thread. Only the parties of an *active* call
may add one; a call holds at most ``MAX_PER_CALL``. Sandboxed decodes run at most
``MAX_CONCURRENT_DECODES`` at a time per process, so a flood of uploads queues instead of
forking a child each.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, utcnow
from privacy import RetentionKind, retention_for_call
from privacy.attachments import (
    AttachmentKind,
    CallAttachment,
    call_attachments,
    count_for_call,
    describe,
    open_sealed,
    seal,
)
from signaling.attachments.sanitize import PhotoLimits, sanitise_photo
from signaling.errors import Conflict, NotFound
from signaling.models import Call, CallStatus
from signaling.outbox import Outbox, SessionId
from signaling.state import CallState

MAX_PER_CALL = 50
MAX_CONCURRENT_DECODES = 2


class ActiveCalls(Protocol):
    """Where a session's current call is looked up (the switchboard)."""

    async def current_call(self, session: SessionId, org_id: uuid.UUID) -> CallState | None: ...


@dataclass(frozen=True, slots=True)
class Opened:
    """A decrypted attachment, ready to send to someone allowed to see it."""

    data: bytes
    content_type: str
    description: dict[str, Any]


class Attachments:
    """Adds photos to the caller's active call and reads them back for its parties and staff."""

    def __init__(
        self,
        *,
        calls: ActiveCalls,
        outbox: Outbox,
        sessions: SessionFactory,
        master_key: bytes,
        master_keys: tuple[bytes, ...],
        limits: PhotoLimits | None = None,
    ) -> None:
        self._calls = calls
        self._outbox = outbox
        self._sessions = sessions
        self._master_key = master_key
        self._master_keys = master_keys
        self.limits = limits or PhotoLimits()
        self._decodes = asyncio.Semaphore(MAX_CONCURRENT_DECODES)

    async def add(
        self,
        session: SessionId,
        org_id: uuid.UUID,
        data: bytes,
        content_type: str,
        *,
        call_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """Sanitise and store ``data`` in the session's active call (``call_id``, when given,
        must be that call); the attachment's description, as both parties receive it."""
        call = await self._calls.current_call(session, org_id)
        if call is None or call.status != CallStatus.ACTIVE or not call.adviser_id:
            raise Conflict("photos can be shared during an accepted call", code="not_active")
        if call_id is not None and call.id != str(call_id):
            raise Conflict(f"call {call_id} is not your active call", code="not_active")
        call_id = uuid.UUID(call.id)
        async with self._sessions() as db:
            if await count_for_call(db, call_id) >= MAX_PER_CALL:
                raise Conflict(f"a call holds at most {MAX_PER_CALL} photos", code="too_many_attachments")
        async with self._decodes:
            clean = await sanitise_photo(data, content_type, self.limits)
        party = "visitor" if session.kind == "visitor" else "adviser"
        attachment_id = uuid.uuid4()
        sealed = await asyncio.to_thread(seal, self._master_key, attachment_id, clean.data)
        now = utcnow()
        async with self._sessions() as db:
            retention = await retention_for_call(db, call_id, RetentionKind.ATTACHMENTS)
            row = CallAttachment(
                id=attachment_id,
                call_id=call_id,
                party=party,
                kind=AttachmentKind.PHOTO if party == "visitor" else AttachmentKind.SNAPSHOT,
                content_type=clean.content_type,
                width=clean.width,
                height=clean.height,
                bytes=len(clean.data),
                ciphertext=sealed.ciphertext,
                wrapped_key=sealed.wrapped_key,
                key_id=sealed.key_id,
                created_at=now,
                delete_after=retention.deadline(now),
            )
            db.add(row)
            await db.commit()
            event = describe(row)
        for to in (SessionId("visitor", call.visitor), SessionId("adviser", call.adviser_id)):
            await self._outbox.send(to, "attachment:added", event)
        return event

    async def open_for_visitor(self, visitor_id: str, org_id: uuid.UUID, attachment_id: uuid.UUID) -> Opened:
        """An attachment of the visitor token's own call (the token is good for one call)."""
        async with self._sessions() as db:
            row = await db.get(CallAttachment, attachment_id)
            call = await self._call_of(db, row)
            if row is None or call is None or call.visitor_id != visitor_id or call.org_id != org_id:
                raise NotFound("no such attachment")
        return await self._open(row)

    async def open_for_staff(
        self,
        org_id: uuid.UUID,
        user: uuid.UUID,
        call_id: uuid.UUID,
        attachment_id: uuid.UUID,
        *,
        download: bool,
    ) -> Opened:
        """An attachment of a call of the staff member's organisation; every read is audited."""
        async with self._sessions() as db:
            row = await db.get(CallAttachment, attachment_id)
            call = await self._call_of(db, row)
            if row is None or call is None or row.call_id != call_id or call.org_id != org_id:
                raise NotFound("no such attachment")
            await audit.record(
                db,
                actor=f"user:{user}",
                action="attachment.downloaded" if download else "attachment.viewed",
                target=f"attachment:{attachment_id}",
                org_id=org_id,
                details={"call_id": str(call_id)},
            )
            await db.commit()
        return await self._open(row)

    async def list_for_staff(self, org_id: uuid.UUID, call_id: uuid.UUID) -> list[dict[str, Any]]:
        """The call's attachments without their bytes (not audited: no image is shown)."""
        async with self._sessions() as db:
            call = await db.get(Call, call_id)
            if call is None or call.org_id != org_id:
                raise NotFound(f"no call {call_id}")
            return [describe(row) for row in await call_attachments(db, call_id)]

    async def _call_of(self, db: AsyncSession, row: CallAttachment | None) -> Call | None:
        return await db.get(Call, row.call_id) if row is not None else None

    async def _open(self, row: CallAttachment) -> Opened:
        data = await asyncio.to_thread(open_sealed, self._master_keys, row)
        return Opened(data, row.content_type, describe(row))
