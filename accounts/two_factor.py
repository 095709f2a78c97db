"""Two-factor authentication for staff: enrolment, the check at login, resets and the policy.

Enrolment: ``start`` makes a secret (or takes the user's own, if it has at least 112 bits) and
keeps it sealed as *pending*; ``confirm`` with a first code from the app moves it to
``users.totp_secret`` and hands out ten recovery codes, shown once. Starting again before
confirming replaces the pending secret; an enabled secret is replaced only after a reset.

Who must use it: admin and dpo always; every role when the organisation's policy says so. Such a
user who has not enrolled gets **one** grace login (to enrol in the console); after that a login
without enrolment is refused with ``totp_enrolment_required`` until they enrol or an admin
resets them (which gives a new grace login).

At login (``check_login``): a user with a secret must send the current code (or the one before
or after, RFC 6238 §5.2), never the same code twice (a 90 s marker in the realtime store), or a
recovery code, which is spent. A stored secret that can never verify (under 112 bits, not
base32) is a 403 ``totp_secret_unusable``, not a 500.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import totp
from accounts.credential_models import RecoveryCode, TwoFactorPolicy, TwoFactorState
from accounts.models import Role, User
from accounts.recovery_codes import RecoveryCodes, looks_like_code
from accounts.types import Counters
from db import audit, utcnow
from db.errors import Conflict, Forbidden, InvalidInput, RateLimited, Unauthenticated

# Roles that may never work without a second factor (DESIGN.md, "Identities").
ALWAYS_REQUIRED = frozenset({Role.ADMIN, Role.DPO})
# A used code is remembered a little longer than the three 30 s steps it is valid in.
REPLAY_SECONDS = 90
# Wrong codes at enrolment or for new recovery codes (a logged-in session guessing): this many per window.
CODE_FAILURES = 10
CODE_FAILURE_WINDOW_SECONDS = 900


class SecondFactor(enum.StrEnum):
    """How a login passed (or did not pass) the second factor."""

    NOT_ENROLLED = "not_enrolled"  # not required for this user, and not set up
    GRACE = "grace"  # required, not set up: the one login to enrol
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled: bool
    required: bool
    pending: bool
    grace_used: bool
    recovery_codes_left: int


class TwoFactor:
    """Enrolment and verification; ``master_key`` seals secrets and keys the recovery codes."""

    def __init__(self, *, master_key: bytes, store: Counters, issuer: str = totp.ISSUER) -> None:
        self._box = totp.SecretBox(master_key)
        self._codes = RecoveryCodes(master_key)
        self._store = store
        self._issuer = issuer

    # -- who needs it ------------------------------------------------------------------------

    async def required(self, db: AsyncSession, user: User) -> bool:
        if user.role in ALWAYS_REQUIRED:
            return True
        policy = await db.get(TwoFactorPolicy, user.org_id)
        return policy is not None and policy.all_roles

    async def status(self, db: AsyncSession, user: User) -> TwoFactorStatus:
        state = await db.get(TwoFactorState, user.id)
        return TwoFactorStatus(
            enabled=user.totp_secret is not None,
            required=await self.required(db, user),
            pending=state is not None and state.pending_secret is not None,
            grace_used=state is not None and state.grace_used_at is not None,
            recovery_codes_left=await self._codes.left(db, user.id),
        )

    async def policy(self, db: AsyncSession, org_id: uuid.UUID) -> bool:
        policy = await db.get(TwoFactorPolicy, org_id)
        return policy is not None and policy.all_roles

    async def set_policy(self, db: AsyncSession, org_id: uuid.UUID, *, all_roles: bool, actor: str) -> None:
        policy = await db.get(TwoFactorPolicy, org_id)
        if policy is None:
            db.add(TwoFactorPolicy(org_id=org_id, all_roles=all_roles))
        else:
            policy.all_roles = all_roles
            policy.updated_at = utcnow()
        await audit.record(
            db,
            actor=actor,
            action="two_factor.policy_changed",
            target=f"org:{org_id}",
            org_id=org_id,
            details={"all_roles": all_roles},
        )

    # -- enrolment ---------------------------------------------------------------------------

    async def start(self, db: AsyncSession, user: User, secret: str | None = None) -> Enrolment:
        if user.totp_secret is not None:
            raise Conflict(
                "two-factor authentication is already set up; an administrator can reset it",
                code="totp_already_enabled",
            )
        chosen = totp.checked_secret(secret) if secret is not None else totp.new_secret()
        state = await self._state(db, user.id)
        state.pending_secret = self._box.seal(user.id, chosen)
        state.pending_since = utcnow()
        uri = totp.provisioning_uri(chosen, account=user.email, issuer=self._issuer)
        return Enrolment(secret=chosen, otpauth_uri=uri, qr_svg=totp.qr_svg_data_uri(uri))

    async def confirm(self, db: AsyncSession, user: User, code: str) -> list[str]:
        """Enable the pending secret if ``code`` is its current code; the new recovery codes."""
        state = await db.get(TwoFactorState, user.id)
        if state is None or state.pending_secret is None:
            raise Conflict("start the enrolment first", code="totp_not_started")
        secret = self._box.open(user.id, state.pending_secret)
        await self._check_code(user, secret, code)
        user.totp_secret = state.pending_secret
        state.pending_secret = None
        state.pending_since = None
        state.confirmed_at = utcnow()
        codes = await self._codes.replace(db, user.id)
        await _audit_own(db, user, "auth.2fa_enrolled", {})
        return codes

    async def new_recovery_codes(self, db: AsyncSession, user: User, code: str) -> list[str]:
        """Ten fresh recovery codes for an enrolled user who proves it with a current code."""
        if user.totp_secret is None:
            raise Conflict("two-factor authentication is not set up", code="totp_not_enabled")
        secret = self._box.open(user.id, user.totp_secret)
        await self._check_code(user, secret, code)
        codes = await self._codes.replace(db, user.id)
        await _audit_own(db, user, "auth.recovery_codes_replaced", {})
        return codes

    async def reset(self, db: AsyncSession, user: User, *, actor: str) -> None:
        await reset(db, user, actor=actor)

    # -- login -------------------------------------------------------------------------------

    async def check_login(self, db: AsyncSession, user: User, code: str | None) -> SecondFactor:
        """The second factor of a login whose password was right (see the module docstring).
        Raises for a missing code or enrolment; returns FAILED for a wrong code, so that the
        caller counts it against the account like a wrong password."""
        if user.totp_secret is None:
            if not await self.required(db, user):
                return SecondFactor.NOT_ENROLLED
            state = await self._state(db, user.id)
            if state.grace_used_at is None:
                state.grace_used_at = utcnow()
                await _audit_own(db, user, "auth.2fa_grace_login", {})
                return SecondFactor.GRACE
            raise Forbidden(
                "your role needs two-factor authentication and your one login to set it up was used: "
                "ask an administrator to reset your two-factor authentication",
                code="totp_enrolment_required",
            )
        secret = totp.usable(self._box.open(user.id, user.totp_secret))
        if code is None:
            raise Unauthenticated("enter the code from your authenticator app", code="totp_required")
        if looks_like_code(code):
            if not await self._codes.use(db, user.id, code):
                return SecondFactor.FAILED
            await _audit_own(
                db, user, "auth.recovery_code_used", {"left": await self._codes.left(db, user.id)}
            )
            passed = SecondFactor.RECOVERY_CODE
        elif totp.verify_code(secret, code) and await self._first_use(user.id, code):
            passed = SecondFactor.TOTP
        else:
            return SecondFactor.FAILED
        if not totp.is_sealed(user.totp_secret):
            # Set by hand before secrets were sealed: seal it now.
            user.totp_secret = self._box.seal(user.id, secret)
        return passed

    async def _check_code(self, user: User, secret: str, code: str) -> None:
        """A current, unused code of ``secret``, or a 422; more than ``CODE_FAILURES`` wrong ones in
        the window is a 429, so a stolen session cannot guess its way to new recovery codes."""
        failures_key = f"totp-code-fail:{user.id}"
        failures = await self._store.get(failures_key)
        if failures is not None and int(failures) >= CODE_FAILURES:
            raise RateLimited(
                "too many wrong codes; try again later", retry_after=CODE_FAILURE_WINDOW_SECONDS
            )
        if not totp.verify_code(secret, code) or not await self._first_use(user.id, code):
            await self._store.incr(failures_key, ttl=CODE_FAILURE_WINDOW_SECONDS)
            raise InvalidInput("that code is not the current one; try the next", code="invalid_totp")

    async def _first_use(self, user_id: uuid.UUID, code: str) -> bool:
        return await self._store.incr(f"totp-used:{user_id}:{code}", ttl=REPLAY_SECONDS) == 1

    async def _state(self, db: AsyncSession, user_id: uuid.UUID) -> TwoFactorState:
        state = await db.get(TwoFactorState, user_id)
        if state is None:
            state = TwoFactorState(user_id=user_id)
            db.add(state)
        return state


async def _audit_own(db: AsyncSession, user: User, action: str, details: dict[str, object]) -> None:
    await audit.record(
        db,
        actor=f"user:{user.id}",
        action=action,
        target=f"user:{user.id}",
        org_id=user.org_id,
        details=details,
    )


async def reset(db: AsyncSession, user: User, *, actor: str) -> None:
    """Remove ``user``'s secret and recovery codes; they get a new grace login to enrol. Needs no
    key, so ``loket user reset-two-factor`` can rescue an installation whose admins are locked out."""
    user.totp_secret = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    state = await db.get(TwoFactorState, user.id)
    if state is None:
        state = TwoFactorState(user_id=user.id)
        db.add(state)
    state.pending_secret = None
    state.pending_since = None
    state.grace_used_at = None
    state.confirmed_at = None
    await audit.record(
        db,
        actor=actor,
        action="auth.2fa_reset",
        target=f"user:{user.id}",
        org_id=user.org_id,
        details={},
    )
