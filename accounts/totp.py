"""TOTP secrets (RFC 6238): made, checked, sealed at rest, and shown as a QR code.

A secret is refused below 112 bits: RFC 4226 §4 (R6) asks for at least 128 and recommends 160,
and pyotp raises on anything under 112, which used to turn such a user's login into a 500.
New secrets have 160 bits.

At rest a secret is sealed with AES-256-GCM under a key derived from the master key with HKDF
(RFC 5869), with the user's id as associated data, so a copied database reveals no secret and
a sealed value moved to another user's row does not open. Values stored before sealing existed
(plain base32, as set by hand in SQL) are still read, and sealed again at the next login.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from db.errors import Forbidden, InvalidInput

MIN_SECRET_BITS = 112
SECRET_BYTES = 20  # 160 bits: RFC 4226 §4's recommendation
ISSUER = "Loket"
SEALED_PREFIX = "v1:"
_NONCE_BYTES = 12


class UnusableSecret(Forbidden):
    """A stored secret that no code can ever match (too short or not base32)."""

    code = "totp_secret_unusable"


def new_secret() -> str:
    """A fresh 160-bit secret in base32, as authenticator apps expect it."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def secret_bits(secret: str) -> int:
    """How many bits ``secret`` (base32, padding optional) decodes to; ValueError if not base32."""
    text = secret.strip().replace(" ", "").upper().rstrip("=")
    if not text:
        raise ValueError("empty")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error as exc:
        raise ValueError("not base32") from exc
    return len(raw) * 8


def checked_secret(secret: str) -> str:
    """``secret`` normalised (upper case, no spaces or padding), or a 422 that says why not."""
    try:
        bits = secret_bits(secret)
    except ValueError as exc:
        raise InvalidInput(
            "an authenticator secret is base32 (letters A-Z and digits 2-7)", code="totp_secret_invalid"
        ) from exc
    if bits < MIN_SECRET_BITS:
        raise InvalidInput(
            f"this authenticator secret has {bits} bits; at least {MIN_SECRET_BITS} bits are needed "
            "(RFC 4226 §4)",
            code="totp_secret_too_short",
        )
    return secret.strip().replace(" ", "").upper().rstrip("=")


def usable(secret: str) -> str:
    """A stored secret that can verify codes, or a 403 naming the problem (never a 500)."""
    try:
        return checked_secret(secret)
    except InvalidInput as exc:
        raise UnusableSecret(
            f"your authenticator enrolment cannot be used ({exc.message}; at least {MIN_SECRET_BITS} bits "
            "are needed): ask an administrator to reset your two-factor authentication, then enrol again"
        ) from exc


def verify_code(secret: str, code: str) -> bool:
    """Whether ``code`` is the current code of ``secret``, or the one before or after (clock
    skew, RFC 6238 §5.2)."""
    return pyotp.TOTP(usable(secret)).verify(code, valid_window=1)


def provisioning_uri(secret: str, *, account: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI that authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG data URI (segno; error correction M)."""
    return str(segno.make(uri, error="m", micro=False).svg_data_uri(scale=5, border=4))


class SecretBox:
    """Seals TOTP secrets with a key derived from the master key (see the module docstring)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the master key has at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"loket/totp-secrets/v1").derive(
            master_key
        )
        self._aead = AESGCM(key)

    def seal(self, user_id: uuid.UUID, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), user_id.bytes)
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, user_id: uuid.UUID, stored: str) -> str:
        """The secret of ``stored``; a legacy plain value is returned as it is."""
        if not is_sealed(stored):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], user_id.bytes).decode()
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise UnusableSecret(
                "your authenticator enrolment cannot be read (was the master key changed?): ask an "
                "administrator to reset your two-factor authentication"
            ) from exc


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)
