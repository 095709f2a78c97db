"""Keys derived from the master key, one per purpose, handed to the database sessions.

The installation has one secret that protects data at rest, ``LOKET_MASTER_KEY`` (it wraps every
data key). Everything else that needs a key of its own at rest derives it from the master key
with HKDF-SHA256 (RFC 5869) and a purpose label, so that no derived key is ever stored and a key
for one purpose says nothing about another: the audit chain's HMAC (``db.audit``), the privacy
keys' HMAC (``privacy.keys``), the webhook signing secrets' encryption (``webhooks``).

The shell builds one ``InstallationKeys`` from the settings and gives it to
``create_session_factory(engine, keys=...)``; it travels in every session's ``info`` so that code
holding a session (the audit chain, above all) reaches it without a global. A session factory
made without keys (some tests) can write, but its audit events are not anchored and
``KeysUnavailable`` is raised where a key is needed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from db.errors import LoketError

_INFO_KEY = "loket.keys"
_KEY_ID_LABEL = b"loket/derived-key-id/v1"


class KeysUnavailable(LoketError):
    """A session factory without installation keys was asked for one (a wiring mistake)."""

    code = "keys_unavailable"
    status = 500


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (for example ``"audit-hmac/v1"``), HKDF-SHA256 of the master key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"loket/" + purpose.encode()).derive(
        master_key
    )


def derived_key_id(key: bytes) -> str:
    """A short public id of a derived key (an HMAC: it reveals nothing of the key)."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class InstallationKeys:
    """The master key (and retired ones, still good for reading) from which purposes derive."""

    master_key: bytes = field(repr=False)
    retired_master_keys: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for key in (self.master_key, *self.retired_master_keys):
            if len(key) != 32:
                raise ValueError("a master key is 32 bytes")

    def current(self, purpose: str) -> bytes:
        """The key for ``purpose`` derived from the current master key (for writing)."""
        return derive_key(self.master_key, purpose)

    def all(self, purpose: str) -> tuple[bytes, ...]:
        """The keys for ``purpose`` from every master key, current first (for reading)."""
        return tuple(derive_key(key, purpose) for key in (self.master_key, *self.retired_master_keys))


KeysOrLoader = InstallationKeys | Callable[[], InstallationKeys]


class _KeySource:
    """The keys, or how to get them on first use (the CLI reaches the database before it makes
    a development master key, so that a database error is the one thing it says)."""

    def __init__(self, keys: KeysOrLoader) -> None:
        self._keys = keys if isinstance(keys, InstallationKeys) else None
        self._loader = None if isinstance(keys, InstallationKeys) else keys

    def get(self) -> InstallationKeys:
        if self._keys is None:
            assert self._loader is not None
            self._keys = self._loader()
        return self._keys


def session_info(keys: KeysOrLoader | None) -> dict[str, Any]:
    """The ``info`` a session factory gives its sessions."""
    return {_INFO_KEY: _KeySource(keys)} if keys is not None else {}


def keys_of(info: dict[Any, Any]) -> InstallationKeys | None:
    """The installation keys a session (its ``info``) carries, if any."""
    found = info.get(_INFO_KEY)
    return found.get() if isinstance(found, _KeySource) else None


def require_keys(info: dict[Any, Any]) -> InstallationKeys:
    found = keys_of(info)
    if found is None:
        raise KeysUnavailable("this database session was made without the installation keys")
    return found
