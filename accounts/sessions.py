"""Staff sessions follow the account at once.

An access token is a signed promise that lasts its lifetime (15 minutes by default); what it
promises is re-checked wherever staff act, so that an admin's change applies now:

- **Every REST request and every socket connect** (``admit``): the token's login must not be
  logged out (a denylist entry ``revoked-session:{sid}`` in the realtime store, kept until
  every access token of that login would have expired), the account must still be active in
  its organisation, its current role counts (not the token's), and the caller's address must
  be inside its location's allowlist.
- **Every event on an open socket** (``still_valid``): a socket connected before the
  account was cut (``staff-cut:{user}``, the time of the last deactivation, role or
  password change) or whose login was logged out is refused; two reads of the store.
- **Every open socket, on every node** (``cut``): the change is published on the
  ``staff-sessions`` channel; each signalling node disconnects the user's sockets it holds
  (``signaling.staff_watch``). The console reconnects, which goes through ``admit`` again:
  a deactivated account is refused, a changed role is read afresh.

A password change or a deactivation denies every login of the account (the refresh token
families that issued an access token within its lifetime); logout denies its own login.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from accounts import locations
from accounts.models import RefreshToken, User
from accounts.tokens import StaffClaims
from accounts.types import SessionStore
from db import SessionFactory, utcnow
from db.errors import Forbidden, Unauthenticated

# The pub/sub channel every signalling node listens on for cut sessions.
STAFF_CHANNEL = "staff-sessions"


def revoked_session_key(session_id: uuid.UUID) -> str:
    return f"revoked-session:{session_id}"


def cut_key(user_id: uuid.UUID) -> str:
    return f"staff-cut:{user_id}"


@dataclass(frozen=True, slots=True)
class SessionCut:
    """A message on ``STAFF_CHANNEL``: close ``user_id``'s sockets (only those of login
    ``session_id`` when it is set, as after a logout)."""

    user_id: uuid.UUID
    reason: str
    session_id: uuid.UUID | None = None

    def encode(self) -> str:
        return json.dumps(
            {"user": str(self.user_id), "reason": self.reason, "sid": _str(self.session_id)},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, message: str) -> SessionCut:
        """Raises ``ValueError`` on a message that is not one."""
        try:
            data = json.loads(message)
            sid = data.get("sid")
            return cls(uuid.UUID(data["user"]), str(data["reason"]), uuid.UUID(sid) if sid else None)
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError("not a session cut") from exc


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


class StaffSessions:
    """Admits staff requests and sockets, and cuts the sessions of a changed account."""

    def __init__(self, *, sessions: SessionFactory, store: SessionStore, access_seconds: int) -> None:
        self._sessions = sessions
        self._store = store
        self._access_seconds = access_seconds

    async def admit(self, claims: StaffClaims, address: str) -> StaffClaims:
        """``claims`` as the account is now (its current role), or ``Unauthenticated``
        (logged out, disabled) or ``Forbidden`` (``ip_not_allowed``)."""
        async with self._sessions() as db:
            user = await db.get(User, claims.user_id)
            if user is None or not user.active or user.org_id != claims.org_id:
                raise Unauthenticated("this account is disabled", code="account_disabled")
            if await self._logged_out(claims):
                raise Unauthenticated("this session was logged out; log in again", code="session_revoked")
            if not await locations.address_allowed(db, user.location_id, address):
                raise Forbidden("your location does not allow this network", code="ip_not_allowed")
        if user.role == claims.role:
            return claims
        return dataclasses.replace(claims, role=user.role)

    async def still_valid(self, claims: StaffClaims, connected_at: float) -> bool:
        """Whether a socket of ``claims`` connected at ``connected_at`` (``time.time()``) may
        still act: the account was not cut since, its login not logged out."""
        cut = await self._store.get(cut_key(claims.user_id))
        if cut is not None and float(cut) >= connected_at:
            return False
        return not await self._logged_out(claims)

    async def _logged_out(self, claims: StaffClaims) -> bool:
        return claims.session_id is not None and bool(
            await self._store.get(revoked_session_key(claims.session_id))
        )

    async def logged_out(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """Deny every access token of login ``session_id`` and close its sockets."""
        await self._deny([session_id])
        await self._store.publish(STAFF_CHANNEL, SessionCut(user_id, "logged_out", session_id).encode())

    async def cut(self, user_id: uuid.UUID, reason: str, *, deny_logins: bool) -> None:
        """Close every socket of ``user_id`` on every node; with ``deny_logins`` (a password
        change, a deactivation) also deny every access token the account holds."""
        if deny_logins:
            await self._deny(await self._recent_logins(user_id))
        # A socket connected up to now is refused; one connected after (with a token that
        # ``admit`` accepts again) is not.
        await self._store.set(cut_key(user_id), repr(time.time()), ttl=self._access_seconds + 60)
        await self._store.publish(STAFF_CHANNEL, SessionCut(user_id, reason).encode())

    async def _deny(self, session_ids: Iterable[uuid.UUID]) -> None:
        for session_id in session_ids:
            # Kept a minute past the longest an access token of that login can still live.
            await self._store.set(revoked_session_key(session_id), "1", ttl=self._access_seconds + 60)

    async def _recent_logins(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Logins that issued an access token that may still be valid: each issue writes a
        refresh-token row, so their families are those with a row younger than a token."""
        since = utcnow() - timedelta(seconds=self._access_seconds + 60)
        async with self._sessions() as db:
            rows = await db.scalars(
                select(RefreshToken.family_id)
                .where(RefreshToken.user_id == user_id, RefreshToken.created_at >= since)
                .distinct()
            )
            return list(rows)
