"""Staff login, refresh-token rotation and logout.

Refresh tokens rotate: each use returns a new one and marks the old one rotated. If a
rotated token is ever presented again, someone holds a copy, so the whole family (every
token descended from that login) is revoked (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP
§4.14). A family is one login: its access tokens carry its id (``sid``), so logging out
denies them too (``accounts.sessions``).

A location's allowlist is checked at login and at every refresh: a refresh token presented
from outside it is treated as stolen, and its family is revoked.

Failed logins lock an account per account *and* address (an IPv6 address counted by its
/64): someone guessing from elsewhere cannot lock the owner out from their own location.
Guessing spread over many addresses meets a second, higher limit per account, which holds
everywhere except inside the account's own location allowlist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import locations, queries, ratelimit
from accounts.addresses import allowed_by, counted_as
from accounts.config import AuthConfig
from accounts.models import Location, RefreshToken, User
from accounts.passwords import verify_password
from accounts.sessions import StaffSessions
from accounts.tokens import StaffClaims, TokenService, hash_refresh_token, new_refresh_token
from accounts.two_factor import SecondFactor, TwoFactor
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
        staff_sessions: StaffSessions,
        two_factor: TwoFactor,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._tokens = tokens
        self._config = config
        self._staff_sessions = staff_sessions
        self._two_factor = two_factor

    async def login(self, email: str, password: str, totp: str | None, ip: str) -> IssuedTokens:
        email = email.strip().lower()
        await ratelimit.hit(self._store, f"login-ip:{counted_as(ip)}", self._config.login_per_ip)
        account_key = f"login-fail:{email}|{counted_as(ip)}"
        if await ratelimit.peek(self._store, account_key, self._config.login_failures_per_account):
            raise RateLimited(
                "too many failed logins for this account from this network; try again later",
                retry_after=self._config.login_failures_per_account.window_seconds,
            )
        anywhere_key = f"login-fail:{email}"
        async with self._sessions() as db:
            user = await queries.user_by_email(db, email)
            if await ratelimit.peek(
                self._store, anywhere_key, self._config.login_failures_anywhere
            ) and not await self._inside_own_location(db, user, ip):
                raise RateLimited(
                    "too many failed logins for this account; try again later",
                    retry_after=self._config.login_failures_anywhere.window_seconds,
                )
            valid = await verify_password(user.password_hash if user else None, password)
            if user is None or not valid or not user.active:
                await ratelimit.count(self._store, account_key, self._config.login_failures_per_account)
                await ratelimit.count(self._store, anywhere_key, self._config.login_failures_anywhere)
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
            if not await locations.address_allowed(db, user.location_id, ip):
                await _audit_user(db, user, "auth.login_denied", {"reason": "ip_not_allowed", "ip": ip})
                await db.commit()
                raise Forbidden("logins from this network are not allowed", code="ip_not_allowed")
            if await self._two_factor.check_login(db, user, totp) is SecondFactor.FAILED:
                await ratelimit.count(self._store, account_key, self._config.login_failures_per_account)
                await ratelimit.count(self._store, anywhere_key, self._config.login_failures_anywhere)
                await _audit_user(db, user, "auth.login_failed", {"reason": "bad_totp"})
                await db.commit()
                raise Unauthenticated("wrong authenticator code", code="invalid_totp")
            issued = await self._issue(db, user, family=uuid.uuid4())
            await _audit_user(db, user, "auth.login", {"ip": ip})
            await db.commit()
            return issued

    async def refresh(self, refresh_token: str, ip: str) -> IssuedTokens:
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
            if not await locations.address_allowed(db, user.location_id, ip):
                # The owner works inside the allowlist; from outside it this token is a copy.
                await self._revoke_family(db, row.family_id)
                await _audit_user(db, user, "auth.refresh_denied", {"reason": "ip_not_allowed", "ip": ip})
                await db.commit()
                await self._staff_sessions.logged_out(user.id, row.family_id)
                raise Forbidden("refreshing from this network is not allowed", code="ip_not_allowed")
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
                await self._staff_sessions.logged_out(user.id, row.family_id)
                raise Unauthenticated(
                    "this refresh token was already used; log in again", code="refresh_token_reused"
                )
            issued = await self._issue(db, user, family=row.family_id)
            await db.commit()
            return issued

    async def logout(self, refresh_token: str) -> None:
        """Revoke the login of ``refresh_token``: its refresh tokens, its access tokens (a
        denylist entry until they would have expired) and its open sockets."""
        async with self._sessions() as db:
            row = await _refresh_token_row(db, refresh_token)
            if row is not None:
                await self._revoke_family(db, row.family_id)
                await db.commit()
        if row is not None:
            await self._staff_sessions.logged_out(row.user_id, row.family_id)

    async def _inside_own_location(self, db: AsyncSession, user: User | None, ip: str) -> bool:
        """Whether ``ip`` is inside the allowlist of ``user``'s own location (staff with no
        location, or with an empty list, have no such place)."""
        if user is None or user.location_id is None:
            return False
        location = await db.get(Location, user.location_id)
        return location is not None and bool(location.ip_allowlist) and allowed_by(ip, location.ip_allowlist)

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
        access = self._tokens.issue_staff(
            StaffClaims(user_id=user.id, org_id=user.org_id, role=user.role, session_id=family)
        )
        return IssuedTokens(access, token, self._tokens.access_seconds, user.id)

    async def _revoke_family(self, db: AsyncSession, family: uuid.UUID) -> None:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


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
