"""TOTP secrets: the 112-bit floor, sealing at rest under a key derived from the master key."""

from __future__ import annotations

import base64
import secrets
import uuid

import pyotp
import pytest

from accounts import totp
from db.errors import InvalidInput


def base32_of(size: int) -> str:
    return base64.b32encode(secrets.token_bytes(size)).decode().rstrip("=")


def test_a_secret_needs_112_bits_and_new_ones_have_160() -> None:
    assert totp.secret_bits(totp.new_secret()) == 160
    exactly_112 = base32_of(14)
    assert totp.checked_secret(" " + exactly_112.lower() + " ") == exactly_112
    with pytest.raises(InvalidInput) as short:
        totp.checked_secret(base32_of(13))
    assert (short.value.code, short.value.status) == ("totp_secret_too_short", 422)
    assert "104 bits" in short.value.message
    with pytest.raises(InvalidInput) as garbage:
        totp.checked_secret("not*base32")
    assert garbage.value.code == "totp_secret_invalid"


def test_verifying_against_an_unusable_secret_is_a_403_not_a_value_error() -> None:
    with pytest.raises(totp.UnusableSecret) as refused:
        totp.verify_code("JBSWY3DP", "123456")
    assert (refused.value.status, refused.value.code) == (403, "totp_secret_unusable")


def test_a_sealed_secret_opens_only_for_its_user_and_its_master_key() -> None:
    box = totp.SecretBox(secrets.token_bytes(32))
    user, other = uuid.uuid4(), uuid.uuid4()
    secret = totp.new_secret()
    sealed = box.seal(user, secret)
    assert sealed.startswith("v1:") and secret not in sealed
    assert box.seal(user, secret) != sealed, "a fresh nonce each time"
    assert box.open(user, sealed) == secret
    with pytest.raises(totp.UnusableSecret):
        box.open(other, sealed)
    with pytest.raises(totp.UnusableSecret):
        totp.SecretBox(secrets.token_bytes(32)).open(user, sealed)
    assert box.open(user, secret) == secret, "a value stored in clear before sealing is read as it is"


def test_the_qr_code_carries_the_provisioning_uri_an_app_reads() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="admin@example.test")
    assert pyotp.parse_uri(uri).secret == secret
    assert totp.qr_svg_data_uri(uri).startswith("data:image/svg+xml")
