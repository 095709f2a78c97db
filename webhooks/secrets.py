"""Webhook signing secrets at rest: sealed with a key derived from the master key.

A signing secret cannot be stored hashed (every request is signed with it), so it is stored
encrypted: ``sealed:v1:<key id>:<base64url(nonce || AES-256-GCM(secret))>``, the key derived from
the master key for the purpose ``webhook-secret/v1`` (``db.keys``), the endpoint's id bound in as
associated data (a sealed secret copied to another row does not open). A copy of the database
alone gives no secret. Rows written by a session without the installation keys (some tests) and
rows from before this change keep the secret in clear; ``reveal`` reads both.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from db.errors import LoketError
from db.keys import derived_key_id, keys_of, require_keys

PURPOSE = "webhook-secret/v1"
_PREFIX = "sealed:v1:"
_NONCE_BYTES = 12


class SecretUnavailable(LoketError):
    code = "webhook_secret_unavailable"
    status = 500


def _aad(endpoint_id: uuid.UUID) -> bytes:
    return b"loket/webhook-secret/v1\x00" + endpoint_id.bytes


def seal(info: dict[Any, Any], endpoint_id: uuid.UUID, secret: str) -> str:
    """What to store for ``secret``: sealed when the session has the installation keys."""
    keys = keys_of(info)
    if keys is None:
        return secret
    key = keys.current(PURPOSE)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _aad(endpoint_id))
    return f"{_PREFIX}{derived_key_id(key)}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(_PREFIX)


def reveal(info: dict[Any, Any], endpoint_id: uuid.UUID, stored: str) -> str:
    """The secret a stored value holds (sealed or, for old rows, in clear)."""
    if not is_sealed(stored):
        return stored
    key_id, _, payload = stored[len(_PREFIX) :].partition(":")
    key = next((k for k in require_keys(info).all(PURPOSE) if derived_key_id(k) == key_id), None)
    if key is None:
        raise SecretUnavailable("no configured master key opens this webhook secret")
    raw = base64.urlsafe_b64decode(payload)
    try:
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(endpoint_id)).decode()
    except InvalidTag as exc:
        raise SecretUnavailable("the webhook secret does not open for this endpoint") from exc
