"""Staff login, refresh-token rotation and logout.

Refresh tokens rotate: each use returns a new one and marks the old one rotated. If a
rotated token is ever presented again, someone holds a copy, so the whole family (every
token descended from that login) is revoked (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP
§4.14).
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries, ratelimit
from accounts.config import AuthConfig
from accounts.models import Location, RefreshToken, User
from accounts.passwords import verify_password
from accounts.tokens import StaffClaims, TokenService, hash_refresh_token, new_refresh_token
from accounts.types import Counters
from db import SessionFactory, audit, utcnow
from db.errors import Forbidden, RateLimited, Unauthenticated


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user_id: uuid.UUID


class StaffAuth:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        store: Counters,
        tokens: TokenService,
        config: AuthConfig,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._tokens = tokens
        self._config = config

    async def login(self, email: str, password: str, totp: str | None, ip: str) -> IssuedTokens:
        email = email.strip().lower()
        await ratelimit.hit(self._store, f"login-ip:{ip}", self._config.login_per_ip)
        account_key = f"login-fail:{email}"
        if await ratelimit.peek(self._store, account_key, self._config.login_failures_per_account):
            raise RateLimited(
                "too many failed logins for this account; try again later",
                retry_after=self._config.login_failures_per_account.window_seconds,
            )
        async with self._sessions() as db:
            user = await queries.user_by_email(db, email)
            valid = await verify_password(user.password_hash if user else None, password)
            if user is None or not valid or not user.active:
                await ratelimit.hit(self._store, account_key, self._config.login_failures_per_account)
                await audit.record(
                    db,
                    actor=f"ip:{ip}",
                    action="auth.login_failed",
                    target=f"email:{email}",
                    org_id=user.org_id if user else None,
                    details={"reason": "bad_credentials" if user is None or not valid else "inactive"},
                )
                await db.commit()
                raise Unauthenticated("wrong e-mail address or password", code="invalid_credentials")
            if not await self._ip_allowed(db, user, ip):
                await _audit_user(db, user, "auth.login_denied", {"reason": "ip_not_allowed", "ip": ip})
                await db.commit()
                raise Forbidden("logins from this network are not allowed", code="ip_not_allowed")
            if user.totp_secret:
                if totp is None:
                    raise Unauthenticated("enter the code from your authenticator app", code="totp_required")
                if (
                    not pyotp.TOTP(user.totp_secret).verify(totp, valid_window=1)
                    or await self._store.incr(f"totp-used:{user.id}:{totp}", ttl=90) > 1
                ):
                    await ratelimit.hit(self._store, account_key, self._config.login_failures_per_account)
                    await _audit_user(db, user, "auth.login_failed", {"reason": "bad_totp"})
                    await db.commit()
                    raise Unauthenticated("wrong authenticator code", code="invalid_totp")
            issued = await self._issue(db, user, family=uuid.uuid4())
            await _audit_user(db, user, "auth.login", {"ip": ip})
            await db.commit()
            return issued

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        async with self._sessions() as db:
            row = await _refresh_token_row(db, refresh_token)
            now = utcnow()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise Unauthenticated("refresh token is not valid", code="invalid_refresh_token")
            # Mark it rotated only if nobody else did first: two concurrent uses of one
            # token must not both succeed.
            rotated = await db.execute(
                update(RefreshToken)
                .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
                .values(rotated_at=now)
            )
            user = await db.get(User, row.user_id)
            if user is None or not user.active:
                await self._revoke_family(db, row.family_id)
                await db.commit()
                raise Unauthenticated("account disabled", code="account_disabled")
            if rotated.rowcount != 1:  # type: ignore[attr-defined]
                await self._revoke_family(db, row.family_id)
                await audit.record(
                    db,
                    actor=f"user:{row.user_id}",
                    action="auth.refresh_reuse",
                    target=f"token_family:{row.family_id}",
                    org_id=user.org_id,
                    details={},
                )
                await db.commit()
                raise Unauthenticated(
                    "this refresh token was already used; log in again", code="refresh_token_reused"
                )
            issued = await self._issue(db, user, family=row.family_id)
            await db.commit()
            return issued

    async def logout(self, refresh_token: str) -> None:
        async with self._sessions() as db:
            row = await _refresh_token_row(db, refresh_token)
            if row is not None:
                await self._revoke_family(db, row.family_id)
                await db.commit()

    async def _issue(self, db: AsyncSession, user: User, *, family: uuid.UUID) -> IssuedTokens:
        token, token_hash = new_refresh_token()
        db.add(
            RefreshToken(
                user_id=user.id,
                family_id=family,
                token_hash=token_hash,
                expires_at=utcnow() + timedelta(seconds=self._config.refresh_token_seconds),
            )
        )
        access = self._tokens.issue_staff(StaffClaims(user_id=user.id, org_id=user.org_id, role=user.role))
        return IssuedTokens(access, token, self._tokens.access_seconds, user.id)

    async def _revoke_family(self, db: AsyncSession, family: uuid.UUID) -> None:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def _ip_allowed(self, db: AsyncSession, user: User, ip: str) -> bool:
        if user.location_id is None:
            return True
        location = await db.get(Location, user.location_id)
        if location is None or not location.ip_allowlist:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in location.ip_allowlist)


async def _refresh_token_row(db: AsyncSession, refresh_token: str) -> RefreshToken | None:
    """The stored row of ``refresh_token`` (found by its SHA-256), in any state."""
    return await db.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
    )


async def _audit_user(db: AsyncSession, user: User, action: str, details: dict[str, Any]) -> None:
    """An audit event of ``user`` acting on their own account."""
    await audit.record(
        db,
        actor=f"user:{user.id}",
        action=action,
        target=f"user:{user.id}",
        org_id=user.org_id,
        details=details,
    )
