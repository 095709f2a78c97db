"""Photos exchanged in a call (``call_attachments``): encrypted at rest, kept by retention kind
``attachments``, exported with the call and erased with it.

Only re-encoded images reach this module (``signaling.attachments`` sanitises them in a sandbox
first); the bytes a party sent are never stored. Each attachment is sealed with its own random
data key (AES-256-GCM, the attachment id as associated data), wrapped by the master key bound to
the attachment's id like a recording's (``recordings.crypto``); ciphertext and wrapped key live
in the row, which goes with the call (``ON DELETE CASCADE``) on erasure and when call metadata
expires, and on its own when its ``delete_after`` passes (``call_data_sweep``, a receipt each).
"""

from __future__ import annotations

import builtins
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow
from recordings.crypto import new_data_key, unwrap_data_key, wrap_data_key
from recordings.errors import DecryptionError

_NONCE_BYTES = 12
_LABEL = b"loket/attachment/v1"


class AttachmentKind:
    """Who made it: a photo the visitor sent, or a still the adviser took of the visitor's video."""

    PHOTO = "photo"
    SNAPSHOT = "snapshot"
    ALL = (PHOTO, SNAPSHOT)


class CallAttachment(Base):
    """One image of a call, sealed. ``party`` is who sent it (``visitor`` or ``adviser``)."""

    __tablename__ = "call_attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Explicit type: ``calls`` belongs to signaling (see Recording.call_id).
    call_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    party: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    ciphertext: Mapped[builtins.bytes] = mapped_column(LargeBinary, nullable=False)
    wrapped_key: Mapped[builtins.bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


# The columns retention needs, as ``privacy.call_data`` names the other per-call tables.
ATTACHMENT_ROWS = table(
    "call_attachments",
    column("id", Uuid),
    column("call_id", Uuid),
    column("created_at", UTCDateTime()),
    column("delete_after", UTCDateTime()),
)


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


def _aad(attachment_id: uuid.UUID) -> bytes:
    return _LABEL + b"\x00" + attachment_id.bytes


def seal(master_key: bytes, attachment_id: uuid.UUID, plaintext: bytes) -> Sealed:
    """Encrypt ``plaintext`` under a fresh data key wrapped by ``master_key``."""
    data_key = new_data_key()
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, _aad(attachment_id))
    wrapped = wrap_data_key(master_key, data_key, context=_aad(attachment_id))
    return Sealed(nonce + sealed, wrapped.wrapped, wrapped.key_id)


def open_sealed(master_keys: Iterable[bytes], attachment: CallAttachment) -> bytes:
    """The image bytes; ``KeyUnavailable`` when its key was shredded, ``DecryptionError`` when tampered."""
    data_key = unwrap_data_key(
        master_keys, attachment.wrapped_key, attachment.key_id, context=_aad(attachment.id)
    )
    nonce, sealed = attachment.ciphertext[:_NONCE_BYTES], attachment.ciphertext[_NONCE_BYTES:]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, _aad(attachment.id))
    except InvalidTag as exc:
        raise DecryptionError(f"attachment {attachment.id} failed authentication") from exc


def describe(attachment: CallAttachment) -> dict[str, Any]:
    """What both parties and staff see of an attachment (no bytes)."""
    return {
        "id": str(attachment.id),
        "call_id": str(attachment.call_id),
        "from": attachment.party,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "width": attachment.width,
        "height": attachment.height,
        "bytes": attachment.bytes,
        "sent_at": attachment.created_at.isoformat(),
    }


async def call_attachments(session: AsyncSession, call_id: uuid.UUID) -> list[CallAttachment]:
    """The call's attachments, oldest first."""
    rows = await session.scalars(
        select(CallAttachment)
        .where(CallAttachment.call_id == call_id)
        .order_by(CallAttachment.created_at, CallAttachment.id)
    )
    return list(rows)


async def count_for_call(session: AsyncSession, call_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).where(CallAttachment.call_id == call_id)) or 0)


_EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}


async def export_entries(
    session: AsyncSession, master_keys: Iterable[bytes], call_id: uuid.UUID
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """For a call's export archive: the listing for ``call.json`` and the decrypted files."""
    keys = tuple(master_keys)
    listed: list[dict[str, Any]] = []
    files: list[tuple[str, bytes]] = []
    for number, attachment in enumerate(await call_attachments(session, call_id), start=1):
        extension = _EXTENSIONS.get(attachment.content_type, "bin")
        name = f"attachments/{number}-{attachment.party}-{attachment.kind}.{extension}"
        files.append((name, open_sealed(keys, attachment)))
        listed.append(
            {"file": name, **{k: v for k, v in describe(attachment).items() if k not in ("id", "call_id")}}
        )
    return listed, files
