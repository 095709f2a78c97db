"""API keys for integrations: created by an admin, scoped, optionally expiring, revocable.

A key is ``lk_`` followed by 32 random bytes (base64url). It is shown once; only its SHA-256 is
stored (a key this long needs no slow hash: there is nothing to guess), with its first
characters as a hint. Each use records when and from which address.

What a key may do is the intersection of two things: its scopes (``resource:read`` for GET,
``resource:write`` for every other method, the resource being the first path segment, as in
``calls:read``) and the role of the admin who made it, as that admin is *now*: a key of an
admin who was deactivated or demoted stops working or shrinks with them. Audit events of a
request made with a key name the key (``api_key:<id>``), not the admin.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.credential_models import ApiKey
from db import audit, utcnow
from db.errors import Conflict, InvalidInput, Unauthenticated

PREFIX = "lk_"
HINT_LENGTH = 10  # "lk_" and 7 characters of the key
# Every scope a key may hold. Credentials, users' changes, privacy requests and the
# organisation's settings are never reachable with a key: those stay with people.
SCOPES = frozenset(
    {
        "calls:read",
        "statistics:read",
        "queues:read",
        "queues:write",
        "webhooks:read",
        "webhooks:write",
        "recordings:read",
        "recordings:write",
        "transcripts:read",
        "audit-events:read",
        "retention-rules:read",
        "retention-rules:write",
        "users:read",
        "widget-keys:read",
    }
)


@dataclass(frozen=True, slots=True)
class ApiKeyGrant:
    """What a presented key is: which key, of which organisation, made by whom, for what."""

    key_id: uuid.UUID
    org_id: uuid.UUID
    created_by: uuid.UUID | None
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def scope_for(method: str, resource: str) -> str:
    """The scope a request needs: ``calls:read`` for ``GET /calls/...``."""
    return f"{resource}:{'read' if method in ('GET', 'HEAD') else 'write'}"


def checked_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted({scope.strip() for scope in scopes})
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scope {', '.join(unknown)}; the scopes are {', '.join(sorted(SCOPES))}",
            code="unknown_scope",
        )
    if not wanted:
        raise InvalidInput("a key needs at least one scope", code="unknown_scope")
    return wanted


async def create(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
    created_by: uuid.UUID,
    actor: str,
) -> tuple[ApiKey, str]:
    """A new key row and the key itself (the caller shows it once; it is not kept)."""
    checked = checked_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("the expiry must be in the future", code="invalid_expiry")
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        org_id=org_id,
        name=name,
        key_hash=hash_key(key),
        hint=key[:HINT_LENGTH],
        scopes=checked,
        created_by=created_by,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        actor=actor,
        action="api_key.created",
        target=f"api_key:{row.id}",
        org_id=org_id,
        details={
            "name": name,
            "scopes": checked,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return row, key


async def revoke(db: AsyncSession, row: ApiKey, *, actor: str) -> None:
    if row.revoked_at is not None:
        raise Conflict("this key is already revoked", code="api_key_revoked")
    row.revoked_at = utcnow()
    await audit.record(
        db,
        actor=actor,
        action="api_key.revoked",
        target=f"api_key:{row.id}",
        org_id=row.org_id,
        details={"name": row.name},
    )


async def authenticate(db: AsyncSession, key: str, *, ip: str) -> ApiKeyGrant:
    """The grant of ``key``, noting this use; 401 for an unknown, revoked or expired key (the
    caller commits)."""
    row = await db.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    now = utcnow()
    if row is None:
        raise Unauthenticated("unknown API key", code="invalid_api_key")
    if row.revoked_at is not None:
        raise Unauthenticated("this API key was revoked", code="api_key_revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("this API key has expired", code="api_key_expired")
    row.last_used_at = now
    row.last_used_ip = ip[:45]
    return ApiKeyGrant(
        key_id=row.id, org_id=row.org_id, created_by=row.created_by, scopes=frozenset(row.scopes)
    )
