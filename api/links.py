"""Short-lived signed links to play a recording back.

A ``<video>`` element cannot send an ``Authorization`` header, so the admin console asks for a
link (``POST /recordings/{id}/link``, role-checked and audited) and gets a URL whose query
carries a token: the expiry and the staff member who asked, signed with HMAC-SHA256 over the
recording id as well (RFC 2104). The token is good for that one recording until it expires;
the key is derived from the app's secret key with its own label, so a link signature can never
pass for a JWT signature or the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from db.errors import Forbidden

LINK_SECONDS = 300
_LABEL = b"loket/recording-link/v1\x00"


@dataclass(frozen=True, slots=True)
class LinkGrant:
    """What a valid link token says: who asked for it, and until when it plays."""

    user_id: uuid.UUID
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Signs and checks recording-link tokens with a key derived from the app's secret key."""

    def __init__(self, secret_key: str, *, lifetime: int = LINK_SECONDS) -> None:
        self._key = hmac.new(secret_key.encode(), _LABEL, hashlib.sha256).digest()
        self.lifetime = lifetime

    def _signature(self, recording_id: uuid.UUID, expires_at: int, user_id: uuid.UUID) -> bytes:
        message = f"{recording_id}:{expires_at}:{user_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def sign(
        self, recording_id: uuid.UUID, user_id: uuid.UUID, *, now: float | None = None
    ) -> tuple[str, int]:
        """A token for ``recording_id`` asked for by ``user_id``, and its expiry (Unix seconds)."""
        expires_at = int(now if now is not None else time.time()) + self.lifetime
        signature = self._signature(recording_id, expires_at, user_id)
        return f"{expires_at}.{user_id.hex}.{_b64(signature)}", expires_at

    def verify(self, recording_id: uuid.UUID, token: str, *, now: float | None = None) -> LinkGrant:
        """The grant in ``token`` for ``recording_id``; ``Forbidden`` if forged or expired."""
        try:
            raw_expiry, raw_user, raw_signature = token.split(".")
            expires_at = int(raw_expiry)
            user_id = uuid.UUID(hex=raw_user)
            signature = _unb64(raw_signature)
        except (ValueError, binascii.Error) as exc:
            raise Forbidden("this playback link is not valid", code="invalid_link") from exc
        if not hmac.compare_digest(signature, self._signature(recording_id, expires_at, user_id)):
            raise Forbidden("this playback link is not valid", code="invalid_link")
        if (now if now is not None else time.time()) >= expires_at:
            raise Forbidden("this playback link has expired; ask for a new one", code="link_expired")
        return LinkGrant(user_id=user_id, expires_at=expires_at)
