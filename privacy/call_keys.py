"""A data key per call for the call's text (chat lines, the transcript), so crypto-shredding
covers it.

Each call gets one random 256-bit data key the first time text of it is stored, wrapped by the
master key (``recordings.crypto``, bound to the call's id) in ``call_data_keys``; the row goes
with the call (``ON DELETE CASCADE``). A chat line is stored as
``sealed:v1:<base64url(nonce || AES-256-GCM(text))>`` with the call id and the line's own id as
associated data, so a line moved to another call or row does not open. Deleting the key row
(with the call: erasure, call-metadata retention) makes every copy of the call's text
unreadable, database backups included once their wrapped key is gone.

A transcript is sealed the same way, each of its two forms on its own: ``segments`` (a JSON
column) holds the sealed JSON text of the segment list as a JSON string, ``vtt`` the sealed
WebVTT, each with the field's name in the associated data too (``seal_transcript``,
``open_segments``, ``open_vtt``), so the two cannot be swapped either.

Rows written before this change, or by a session without the installation keys, keep the text
in clear (behind a marker when the text itself starts with the prefix, so typed text never
reads as sealed); ``open_text`` reads both, and ``loket privacy seal-text`` (``seal_plaintext``) seals
the old rows of an upgraded installation once (it needs the master key, which a migration does
not have).
"""

from __future__ import annotations

import base64
import builtins
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, ForeignKey, LargeBinary, String, Uuid, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.keys import keys_of
from recordings.crypto import new_data_key, unwrap_data_key, wrap_data_key
from recordings.errors import DecryptionError, KeyUnavailable

_PREFIX = "sealed:v1:"
# Text kept in clear that itself starts with the prefix (a visitor can type anything) is stored
# behind this marker, so it is never taken for sealed text: "!" is not in base64url, so no
# sealed value starts with it, and a row stored before the marker existed that starts so was
# unreadable anyway (it did not open as sealed text).
_ESCAPED = _PREFIX + "!"
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
    # Statements, not the ORM's unit of work: a flush resolves the foreign key to ``calls``,
    # which a process without signaling's models (the worker's transcription) does not know.
    query = select(CallDataKey.wrapped_key, CallDataKey.key_id).where(CallDataKey.call_id == call_id)
    row = (await session.execute(query)).first()
    if row is None and create:
        # Two writers making the call's first key at once (a chat line, the transcript, the
        # seal-text run): the first insert wins, the other uses its key.
        wrapped = wrap_data_key(keys.master_key, new_data_key(), context=context)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        await session.execute(
            dialect.insert(CallDataKey)
            .values(call_id=call_id, wrapped_key=wrapped.wrapped, key_id=wrapped.key_id, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["call_id"])
        )
        row = (await session.execute(query)).first()
    if row is None:
        return None
    return unwrap_data_key(
        (keys.master_key, *keys.retired_master_keys), row.wrapped_key, row.key_id, context=context
    )


def _aad(call_id: uuid.UUID, row_id: uuid.UUID, field: str) -> bytes:
    # A chat line's (field "") is what it was before transcripts were sealed too.
    suffix = b"\x00" + field.encode() if field else b""
    return b"loket/call-text/v1\x00" + call_id.bytes + row_id.bytes + suffix


def seal_text(
    data_key: bytes | None, call_id: uuid.UUID, row_id: uuid.UUID, text: str, *, field: str = ""
) -> str:
    """What to store for ``text`` of row ``row_id``: sealed with the call's key (in clear without one)."""
    if data_key is None:
        return in_clear(text)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, text.encode(), _aad(call_id, row_id, field))
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def in_clear(text: str) -> str:
    """What to store for ``text`` kept in clear: itself, or behind the marker when it starts
    like sealed text."""
    return _ESCAPED + text if text.startswith(_PREFIX) else text


def is_sealed(stored: str) -> bool:
    """Whether a stored value is sealed (rather than text in clear, marked or not)."""
    return stored.startswith(_PREFIX) and not stored.startswith(_ESCAPED)


def stored_in_clear(column: ColumnElement[str]) -> ColumnElement[bool]:
    """The SQL form of ``not is_sealed(column)``."""
    return or_(column.not_like(_PREFIX + "%"), column.like(_ESCAPED + "%"))


def open_text(
    data_key: bytes | None, call_id: uuid.UUID, row_id: uuid.UUID, stored: str, *, field: str = ""
) -> str:
    """The text a stored value holds; ``KeyUnavailable`` once the call's key was shredded."""
    if stored.startswith(_ESCAPED):
        return stored[len(_ESCAPED) :]
    if not is_sealed(stored):
        return stored
    if data_key is None:
        raise KeyUnavailable("the call's data key was shredded or is not available")
    raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
    try:
        return (
            AESGCM(data_key)
            .decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(call_id, row_id, field))
            .decode()
        )
    except InvalidTag as exc:
        raise DecryptionError("a call's text does not open with its call's key") from exc


# -- transcripts -------------------------------------------------------------------------------

SEGMENTS_FIELD = "segments"
VTT_FIELD = "vtt"


def seal_transcript(
    data_key: bytes | None,
    call_id: uuid.UUID,
    transcript_id: uuid.UUID,
    segments: list[dict[str, Any]],
    vtt: str,
) -> tuple[list[dict[str, Any]] | str, str]:
    """What to store in a transcript's ``segments`` and ``vtt`` columns (in clear without a key)."""
    if data_key is None:
        return segments, in_clear(vtt)
    return (
        seal_text(data_key, call_id, transcript_id, json.dumps(segments), field=SEGMENTS_FIELD),
        seal_text(data_key, call_id, transcript_id, vtt, field=VTT_FIELD),
    )


def open_segments(
    data_key: bytes | None, call_id: uuid.UUID, transcript_id: uuid.UUID, stored: object
) -> list[dict[str, Any]] | None:
    """The segment list a transcript's ``segments`` column holds (sealed, or a list in clear)."""
    if stored is None:
        return None
    if isinstance(stored, str):
        opened: list[dict[str, Any]] = json.loads(
            open_text(data_key, call_id, transcript_id, stored, field=SEGMENTS_FIELD)
        )
        return opened
    if not isinstance(stored, list):
        raise DecryptionError("a transcript's segments are neither a list nor sealed")
    return stored


def open_vtt(
    data_key: bytes | None, call_id: uuid.UUID, transcript_id: uuid.UUID, stored: str | None
) -> str | None:
    """The WebVTT a transcript's ``vtt`` column holds (sealed or in clear)."""
    if stored is None:
        return None
    return open_text(data_key, call_id, transcript_id, stored, field=VTT_FIELD)
