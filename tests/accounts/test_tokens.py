"""JWTs: one fixed algorithm, required claims, separate audiences for staff and visitors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.models import Role
from accounts.tokens import (
    STAFF_AUDIENCE,
    VISITOR_AUDIENCE,
    StaffClaims,
    TokenService,
    hash_refresh_token,
    new_refresh_token,
)
from db.errors import Unauthenticated

KEY = "token-test-secret-key-" + "0123456789abcdef" * 3
ISSUER = "https://loket.example"
ORG = uuid.UUID("6f1f7c3e-0a53-4a55-9d57-2a3b1f4c9e01")
USER = uuid.UUID("0b0e1e52-6b9f-4d1e-8f3c-5c6d7e8f9a0b")


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(secret_key=KEY, issuer=ISSUER, access_seconds=900, visitor_seconds=7200)


def staff_payload(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(USER),
        "org": str(ORG),
        "role": "admin",
        "iss": ISSUER,
        "aud": STAFF_AUDIENCE,
        "iat": now,
        "exp": now + 900,
    }
    payload.update(overrides)
    return {name: value for name, value in payload.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def assert_refused(verify: Any, token: str, code: str = "invalid_token") -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify(token)
    assert refused.value.code == code
    assert refused.value.status == 401


def test_staff_token_round_trips_its_claims(tokens: TokenService) -> None:
    login = uuid.uuid4()
    token = tokens.issue_staff(StaffClaims(user_id=USER, org_id=ORG, role=Role.SUPERVISOR, session_id=login))
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert tokens.verify_staff(token) == StaffClaims(
        user_id=USER, org_id=ORG, role="supervisor", session_id=login, expires_at=payload["exp"]
    )
    assert header["alg"] == "HS256"
    assert payload["exp"] - payload["iat"] == 900
    assert payload["iss"] == ISSUER and payload["aud"] == STAFF_AUDIENCE


def test_a_hand_made_hs256_token_with_every_claim_is_accepted(tokens: TokenService) -> None:
    # The baseline for the refusals below: the same construction, minus one thing, must fail.
    token = hand_made({"alg": "HS256", "typ": "JWT"}, staff_payload(), KEY.encode())
    assert tokens.verify_staff(token).user_id == USER


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "None"}, {"alg": "NONE", "typ": "JWT"}])
def test_unsigned_alg_none_token_is_refused(tokens: TokenService, header: dict[str, Any]) -> None:
    assert_refused(tokens.verify_staff, hand_made(header, staff_payload(), None))


def test_alg_none_header_with_a_valid_hmac_signature_is_refused(tokens: TokenService) -> None:
    assert_refused(tokens.verify_staff, hand_made({"alg": "none"}, staff_payload(), KEY.encode()))


def test_token_signed_with_another_key_is_refused(tokens: TokenService) -> None:
    forged = jwt.encode(staff_payload(), "another-secret-key-" + "fedcba9876543210" * 3, algorithm="HS256")
    assert_refused(tokens.verify_staff, forged)


def test_token_with_a_tampered_payload_is_refused(tokens: TokenService) -> None:
    token = tokens.issue_staff(StaffClaims(user_id=USER, org_id=ORG, role="adviser"))
    header, _payload, signature = token.split(".")
    escalated = b64(json.dumps(staff_payload(role="admin")).encode())
    assert_refused(tokens.verify_staff, f"{header}.{escalated}.{signature}")


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_hs256_token_missing_a_required_claim_is_refused(tokens: TokenService, claim: str) -> None:
    token = jwt.encode(staff_payload(**{claim: None}), KEY, algorithm="HS256")
    assert_refused(tokens.verify_staff, token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "https://evil.example"), ("aud", "loket:other"), ("org", "not-a-uuid"), ("sub", "nobody")],
)
def test_hs256_token_with_a_wrong_claim_is_refused(tokens: TokenService, claim: str, value: str) -> None:
    assert_refused(tokens.verify_staff, jwt.encode(staff_payload(**{claim: value}), KEY, algorithm="HS256"))


def test_expired_token_is_refused_as_expired(tokens: TokenService) -> None:
    past = int(time.time()) - 3600
    token = jwt.encode(staff_payload(iat=past, exp=past + 900), KEY, algorithm="HS256")
    assert_refused(tokens.verify_staff, token, code="token_expired")


def test_token_issued_in_the_future_is_refused(tokens: TokenService) -> None:
    future = int(time.time()) + 3600
    token = jwt.encode(staff_payload(iat=future, exp=future + 900), KEY, algorithm="HS256")
    assert_refused(tokens.verify_staff, token)


def test_visitor_token_is_refused_by_the_staff_verifier(tokens: TokenService) -> None:
    visitor_token, _claims = tokens.issue_visitor(ORG)
    assert_refused(tokens.verify_staff, visitor_token)


def test_staff_token_is_refused_by_the_visitor_verifier(tokens: TokenService) -> None:
    staff_token = tokens.issue_staff(StaffClaims(user_id=USER, org_id=ORG, role="adviser"))
    assert_refused(tokens.verify_visitor, staff_token)


def test_visitor_audience_without_the_visitor_scope_is_refused(tokens: TokenService) -> None:
    payload = staff_payload(aud=VISITOR_AUDIENCE, sub="visitor-1", role=None)
    assert_refused(tokens.verify_visitor, jwt.encode(payload, KEY, algorithm="HS256"))
    payload["scope"] = "visitor"
    assert tokens.verify_visitor(jwt.encode(payload, KEY, algorithm="HS256")).visitor_id == "visitor-1"


def test_hs512_token_signed_with_the_right_key_is_refused(tokens: TokenService) -> None:
    assert_refused(tokens.verify_staff, jwt.encode(staff_payload(), KEY, algorithm="HS512"))


def test_rs256_token_is_refused(tokens: TokenService) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert_refused(tokens.verify_staff, jwt.encode(staff_payload(), pem, algorithm="RS256"))


def test_rs256_header_over_an_hmac_signature_is_refused(tokens: TokenService) -> None:
    # Algorithm confusion: the header claims RS256, the signature is HMAC with our key.
    assert_refused(tokens.verify_staff, hand_made({"alg": "RS256"}, staff_payload(), KEY.encode()))


@pytest.mark.parametrize("length", [0, 16, 31])
def test_a_signing_key_shorter_than_the_hash_is_refused(length: int) -> None:
    # RFC 7518 §3.2: an HS256 key is at least as long as the hash output (32 bytes).
    with pytest.raises(ValueError, match="32"):
        TokenService(secret_key="k" * length, issuer=ISSUER, access_seconds=900, visitor_seconds=7200)


def test_garbage_is_refused(tokens: TokenService) -> None:
    for token in ("", "a.b", "a.b.c", "not a token at all"):
        assert_refused(tokens.verify_staff, token)
        assert_refused(tokens.verify_visitor, token)


def test_visitor_tokens_have_random_subjects_bound_to_the_org(tokens: TokenService) -> None:
    first, first_claims = tokens.issue_visitor(ORG)
    second, second_claims = tokens.issue_visitor(ORG)
    assert tokens.verify_visitor(first) == first_claims
    assert tokens.verify_visitor(second) == second_claims
    assert first_claims.visitor_id != second_claims.visitor_id
    assert len(first_claims.visitor_id) >= 20
    payload = jwt.decode(first, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 7200
    assert payload["org"] == str(ORG) and payload["scope"] == "visitor"


def test_refresh_tokens_are_random_and_only_their_hash_is_kept() -> None:
    token, stored = new_refresh_token()
    other, other_stored = new_refresh_token()
    assert token != other and stored != other_stored
    assert stored == hash_refresh_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored
