"""Signed requests on the internal channel between signalling and media nodes.

Every request carries three headers: ``X-Loket-Node-Time`` (Unix seconds), ``X-Loket-Node-Nonce``
(random, 32 hex digits) and ``X-Loket-Node-Signature``, the hex HMAC-SHA256 under the cluster's
shared secret of::

    loket-node-v1 \\n METHOD \\n raw path and query \\n time \\n nonce \\n hex SHA-256 of the body

(HMAC, RFC 2104). The receiver recomputes it and compares in constant time, refuses a time more
than ``window_s`` away from its own clock, and remembers every nonce it accepted until that
window has passed, so a captured request cannot be replayed. The body's digest is signed, so
nothing of the request can be changed without the secret.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping

from media.errors import NodeAuthError

TIME_HEADER = "X-Loket-Node-Time"
NONCE_HEADER = "X-Loket-Node-Nonce"
SIGNATURE_HEADER = "X-Loket-Node-Signature"
_VERSION = b"loket-node-v1"
_NONCE_LENGTH = 32


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The request's signature (hex HMAC-SHA256)."""
    message = b"\n".join(
        (
            _VERSION,
            method.upper().encode(),
            path.encode(),
            timestamp.encode(),
            nonce.encode(),
            hashlib.sha256(body).hexdigest().encode(),
        )
    )
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request."""
    timestamp = f"{time.time() if now is None else now:.3f}"
    nonce = secrets.token_hex(_NONCE_LENGTH // 2)
    return {
        TIME_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, method, path, timestamp, nonce, body),
    }


class RequestVerifier:
    """Checks signed requests: secret, freshness, and that no nonce is used twice."""

    def __init__(self, secret: str, *, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._window_s = window_s
        self._clock = clock
        # Accepted nonces, and in arrival order when each may be forgotten (its request's
        # time has left the window, so the request would be refused as stale anyway).
        self._seen: set[str] = set()
        self._expiry: collections.deque[tuple[float, str]] = collections.deque()

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the request is authentic and fresh; :class:`NodeAuthError` otherwise."""
        timestamp = headers.get(TIME_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not given or len(nonce) != _NONCE_LENGTH:
            raise NodeAuthError("the request is not signed")
        expected = signature(self._secret, method, path, timestamp, nonce, body)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise NodeAuthError("the request's signature is wrong")
        try:
            sent = float(timestamp)
        except ValueError:
            raise NodeAuthError("the request's time is not a number") from None
        now = self._clock()
        if abs(now - sent) > self._window_s:
            raise NodeAuthError("the request is too old, or the clocks disagree")
        self._forget_old(now)
        if nonce in self._seen:
            raise NodeAuthError("the request was already received")
        self._seen.add(nonce)
        self._expiry.append((sent + self._window_s, nonce))

    def _forget_old(self, now: float) -> None:
        # Requests arrive roughly in time order, so the expired nonces are at the front; one
        # kept behind a later one is forgotten a little late, never early.
        while self._expiry and self._expiry[0][0] < now:
            _, nonce = self._expiry.popleft()
            self._seen.discard(nonce)
