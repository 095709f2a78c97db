"""A data key per call for the call's text (chat lines), so crypto-shredding covers it.

Each call gets one random 256-bit data key the first time text of it is stored, wrapped by the
master key (``recordings.crypto``, bound to the call's id) in ``call_data_keys``; the row goes
with the call (``ON DELETE CASCADE``). A chat line is stored as
``sealed:v1:<base64url(nonce || AES-256-GCM(text))>`` with the call id and the line's own id as
associated data, so a line moved to another call or row does not open. Deleting the key row
(with the call: erasure, call-metadata retention) makes every copy of the call's text
unreadable, database backups included once their wrapped key is gone.

Rows written before this change, or by a session without the installation keys, keep the text
in clear; ``open_text`` reads both. Transcripts are not covered yet.
"""

from __future__ import annotations

import base64
import builtins
import secrets
import uuid
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.keys import keys_of
from recordings.crypto import new_data_key, unwrap_data_key, wrap_data_key
from recordings.errors import DecryptionError, KeyUnavailable

_PREFIX = "sealed:v1:"
_NONCE_BYTES = 12
_WRAP_CONTEXT = b"loket/call-data-key/v1\x00"


class CallDataKey(Base):
    """The wrapped data key of one call's text."""

    __tablename__ = "call_data_keys"

    # Explicit type: ``calls`` belongs to signaling (see Recording.call_id).
    call_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_key: Mapped[builtins.bytes] = mapped_column(LargeBinary, nullable=False)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


async def call_data_key(session: AsyncSession, call_id: uuid.UUID, *, create: bool) -> bytes | None:
    """The call's data key (made and stored in the caller's transaction when ``create``); None
    when the session has no installation keys, or there is no key and ``create`` is false."""
    keys = keys_of(session.info)
    if keys is None:
        return None
    context = _WRAP_CONTEXT + call_id.bytes
    row = await session.get(CallDataKey, call_id)
    if row is not None:
        return unwrap_data_key(
            (keys.master_key, *keys.retired_master_keys), row.wrapped_key, row.key_id, context=context
        )
    if not create:
        return None
    data_key = new_data_key()
    wrapped = wrap_data_key(keys.master_key, data_key, context=context)
    session.add(CallDataKey(call_id=call_id, wrapped_key=wrapped.wrapped, key_id=wrapped.key_id))
    await session.flush()
    return data_key


def _aad(call_id: uuid.UUID, row_id: uuid.UUID) -> bytes:
    return b"loket/call-text/v1\x00" + call_id.bytes + row_id.bytes


def seal_text(data_key: bytes | None, call_id: uuid.UUID, row_id: uuid.UUID, text: str) -> str:
    """What to store for ``text`` of row ``row_id``: sealed with the call's key (in clear without one)."""
    if data_key is None:
        return text
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, text.encode(), _aad(call_id, row_id))
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(_PREFIX)


def open_text(data_key: bytes | None, call_id: uuid.UUID, row_id: uuid.UUID, stored: str) -> str:
    """The text a stored value holds; ``KeyUnavailable`` once the call's key was shredded."""
    if not is_sealed(stored):
        return stored
    if data_key is None:
        raise KeyUnavailable("the call's data key was shredded or is not available")
    raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
    try:
        return (
            AESGCM(data_key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(call_id, row_id)).decode()
        )
    except InvalidTag as exc:
        raise DecryptionError("a chat line does not open with its call's key") from exc
