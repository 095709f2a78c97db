"""Signing of outgoing webhook bodies (HMAC-SHA256 over timestamp and body), and its check for receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from webhooks.models import WebhookDelivery

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix naming what the value is, not a secret


SIGNATURE_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Loket-Signature`` header for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """The receiver's check (the recipe in this module's docstring), for tests and integrators."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def request_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent for ``delivery``: the same on every attempt."""
    envelope = {
        "id": str(delivery.idempotency_key),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
