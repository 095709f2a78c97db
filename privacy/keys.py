"""The visitor's privacy key: the one credential for asking erasure or export of a call.

The reference code is shown to staff (the console, ``GET /calls``), so it cannot be a
credential. At the end of a call the visitor (and only the visitor's socket) is given a
privacy key, ``PK-`` and 32 symbols of base32 in groups of four: 160 random bits, hopeless to
guess under the privacy endpoint's rate limit. The database keeps only its HMAC-SHA256 under a
key derived from the master key (``db.keys``, purpose ``privacy-key/v1``): a copy of the
database (a backup, a leak) gives no key, and without the master key not even a way to test
guesses offline. The row goes with the call (``ON DELETE CASCADE``), so an erased call's key
matches nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.keys import require_keys

PREFIX = "PK-"
KEY_BYTES = 20  # 160 bits: 32 base32 symbols
_SYMBOLS = 32
_GROUP = 4
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
PURPOSE = "privacy-key/v1"
# Base32 has no 0, 1 or 8: typed, they were meant as O, I and B.
_CONFUSABLE = str.maketrans("018", "OIB")


class PrivacyKey(Base):
    """The HMAC of the privacy key given to the visitor of a call (at most one per call)."""

    __tablename__ = "privacy_keys"

    # Explicit type: ``calls`` belongs to signaling (see Recording.call_id).
    call_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def new_privacy_key() -> str:
    """A fresh key, ``PK-XXXX-XXXX-…`` (eight groups of four base32 symbols)."""
    symbols = base64.b32encode(secrets.token_bytes(KEY_BYTES)).decode()
    return PREFIX + "-".join(symbols[i : i + _GROUP] for i in range(0, _SYMBOLS, _GROUP))


def normalise_privacy_key(text: str) -> str | None:
    """The canonical form of what a visitor typed or pasted, or None if it cannot be a key.

    Case, spaces and dashes do not matter; the ``PK`` prefix may be left off. Base32 has no 0,
    1 or 8: typed as O, I/L and B they are mapped back.
    """
    symbols = text.upper().replace("-", "").replace(" ", "").strip()
    if symbols.startswith("PK") and len(symbols) == _SYMBOLS + 2:
        symbols = symbols[2:]
    symbols = symbols.translate(_CONFUSABLE)
    if len(symbols) != _SYMBOLS or not set(symbols) <= _ALPHABET:
        return None
    return PREFIX + "-".join(symbols[i : i + _GROUP] for i in range(0, _SYMBOLS, _GROUP))


def _digests(session: AsyncSession, key: str) -> list[str]:
    """The key's HMAC under the current and every retired master key (current first)."""
    canonical = normalise_privacy_key(key)
    if canonical is None:
        return []
    return [
        hmac.new(k, canonical.encode(), hashlib.sha256).hexdigest()
        for k in require_keys(session.info).all(PURPOSE)
    ]


async def issue_privacy_key(session: AsyncSession, call_id: uuid.UUID) -> str:
    """A new privacy key for ``call_id``, its HMAC stored (replacing an earlier one) in the
    caller's transaction. The key itself is returned once and never stored."""
    key = new_privacy_key()
    await session.execute(delete(PrivacyKey).where(PrivacyKey.call_id == call_id))
    session.add(PrivacyKey(call_id=call_id, digest=_digests(session, key)[0]))
    await session.flush()
    return key


async def call_for_privacy_key(session: AsyncSession, key: str) -> uuid.UUID | None:
    """The call whose visitor was given ``key``; None for anything else (malformed included)."""
    digests = _digests(session, key)
    if not digests:
        return None
    found = await session.scalar(select(PrivacyKey.call_id).where(PrivacyKey.digest.in_(digests)))
    return found
