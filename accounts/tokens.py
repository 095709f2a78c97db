"""JWTs for staff (access) and visitors, and opaque refresh tokens.

One algorithm (HS256) is accepted, never the token's own ``alg`` header; ``exp``, ``iat``,
``iss`` and ``aud`` are required (RFC 8725 §3.1, §3.9). Staff and visitor tokens have
different audiences, so one can never pass for the other.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from db.errors import Unauthenticated

ALGORITHM = "HS256"
MIN_KEY_BYTES = 32
STAFF_AUDIENCE = "loket:staff"
VISITOR_AUDIENCE = "loket:visitor"


@dataclass(frozen=True, slots=True)
class StaffClaims:
    """A staff member's access token. ``session_id`` is the login it came from (the refresh
    token family): logging out or changing the password denies every access token of that
    login until it would have expired. ``expires_at`` is the token's ``exp`` (seconds since
    the epoch), which a socket is closed at."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    session_id: uuid.UUID | None = None
    expires_at: int = 0
    # Set when an integration's API key made the request (``accounts.api_keys``), not a token.
    api_key_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    visitor_id: str
    org_id: uuid.UUID
    # The host page's checked context (``accounts.context``), carried to the call it joins.
    context: tuple[tuple[str, str], ...] = ()


class TokenService:
    def __init__(self, *, secret_key: str, issuer: str, access_seconds: int, visitor_seconds: int) -> None:
        if len(secret_key.encode()) < MIN_KEY_BYTES:
            raise ValueError(f"the signing key needs at least {MIN_KEY_BYTES} bytes (RFC 7518 §3.2)")
        self._key = secret_key
        self._issuer = issuer
        self.access_seconds = access_seconds
        self.visitor_seconds = visitor_seconds

    def _encode(self, claims: dict[str, object], audience: str, lifetime: int) -> str:
        now = int(time.time())
        payload = {**claims, "iss": self._issuer, "aud": audience, "iat": now, "exp": now + lifetime}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def _decode(self, token: str, audience: str) -> dict[str, object]:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired", code="token_expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("invalid token", code="invalid_token") from exc

    def issue_staff(self, claims: StaffClaims) -> str:
        payload: dict[str, object] = {
            "sub": str(claims.user_id),
            "org": str(claims.org_id),
            "role": claims.role,
        }
        if claims.session_id is not None:
            payload["sid"] = str(claims.session_id)
        return self._encode(payload, STAFF_AUDIENCE, self.access_seconds)

    def verify_staff(self, token: str) -> StaffClaims:
        payload = self._decode(token, STAFF_AUDIENCE)
        try:
            return StaffClaims(
                user_id=uuid.UUID(str(payload["sub"])),
                org_id=uuid.UUID(str(payload["org"])),
                role=str(payload["role"]),
                session_id=uuid.UUID(str(payload["sid"])) if "sid" in payload else None,
                expires_at=int(str(payload["exp"])),
            )
        except (KeyError, ValueError) as exc:
            raise Unauthenticated("invalid token", code="invalid_token") from exc

    def issue_visitor(
        self, org_id: uuid.UUID, context: dict[str, str] | None = None
    ) -> tuple[str, VisitorClaims]:
        # A random subject: the visitor is nobody we know, and one token serves one call.
        claims = VisitorClaims(
            visitor_id=secrets.token_urlsafe(18), org_id=org_id, context=tuple((context or {}).items())
        )
        payload: dict[str, Any] = {"sub": claims.visitor_id, "org": str(org_id), "scope": "visitor"}
        if context:
            payload["ctx"] = context
        token = self._encode(
            payload,
            VISITOR_AUDIENCE,
            self.visitor_seconds,
        )
        return token, claims

    def verify_visitor(self, token: str) -> VisitorClaims:
        payload = self._decode(token, VISITOR_AUDIENCE)
        if payload.get("scope") != "visitor":
            raise Unauthenticated("invalid token", code="invalid_token")
        try:
            context = payload.get("ctx") or {}
            if not isinstance(context, dict):
                raise ValueError("ctx is an object")
            return VisitorClaims(
                visitor_id=str(payload["sub"]),
                org_id=uuid.UUID(str(payload["org"])),
                context=tuple((str(k), str(v)) for k, v in context.items()),
            )
        except (KeyError, ValueError) as exc:
            raise Unauthenticated("invalid token", code="invalid_token") from exc


def new_refresh_token() -> tuple[str, str]:
    """A random refresh token and the SHA-256 we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
