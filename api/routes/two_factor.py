"""Two-factor authentication: a staff member's own enrolment, an admin's reset of someone
else's, and the organisation's policy (``accounts.two_factor`` says who must use it)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.tokens import StaffClaims
from api.api import ADMINS, ANY_STAFF, Api, body
from api.credential_schemas import (
    CodeIn,
    EnrolmentOut,
    EnrolmentStart,
    RecoveryCodesOut,
    TwoFactorPolicyIn,
    TwoFactorPolicyOut,
    TwoFactorStatusOut,
)
from api.keys import SESSIONS, TWO_FACTOR
from api.routes._common import acting, actor, own_row, path_id
from db.errors import Unauthenticated

routes = Api()


async def _me(db: AsyncSession, claims: StaffClaims) -> User:
    user = await db.get(User, claims.user_id)
    if user is None or not user.active:
        raise Unauthenticated("this account is disabled", code="account_disabled")
    return user


@routes.route(
    "GET",
    "/auth/two-factor",
    summary="Whether the caller has two-factor authentication and must have it",
    tag="auth",
    response=TwoFactorStatusOut,
    roles=ANY_STAFF,
)
async def two_factor_status(request: web.Request) -> TwoFactorStatusOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        status = await request.app[TWO_FACTOR].status(db, await _me(db, claims))
    return TwoFactorStatusOut(
        enabled=status.enabled,
        required=status.required,
        pending=status.pending,
        grace_used=status.grace_used,
        recovery_codes_left=status.recovery_codes_left,
    )


@routes.route(
    "POST",
    "/auth/two-factor/enrolment",
    summary="Start enrolling an authenticator app: its secret and QR code (confirm with a first code)",
    tag="auth",
    body=EnrolmentStart,
    response=EnrolmentOut,
    roles=ANY_STAFF,
)
async def start_enrolment(request: web.Request) -> EnrolmentOut:
    claims = acting(request)
    data = body(request, EnrolmentStart)
    async with request.app[SESSIONS]() as db:
        enrolment = await request.app[TWO_FACTOR].start(db, await _me(db, claims), data.secret)
        await db.commit()
    return EnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg)


@routes.route(
    "POST",
    "/auth/two-factor/confirmation",
    summary="Confirm the enrolment with the app's current code; answers ten recovery codes, once",
    tag="auth",
    body=CodeIn,
    response=RecoveryCodesOut,
    roles=ANY_STAFF,
)
async def confirm_enrolment(request: web.Request) -> RecoveryCodesOut:
    claims = acting(request)
    code = body(request, CodeIn).code
    async with request.app[SESSIONS]() as db:
        codes = await request.app[TWO_FACTOR].confirm(db, await _me(db, claims), code)
        await db.commit()
    return RecoveryCodesOut(recovery_codes=codes)


@routes.route(
    "POST",
    "/auth/two-factor/recovery-codes",
    summary="Replace the recovery codes (proved with a current code); answers the ten new ones, once",
    tag="auth",
    body=CodeIn,
    response=RecoveryCodesOut,
    roles=ANY_STAFF,
)
async def replace_recovery_codes(request: web.Request) -> RecoveryCodesOut:
    claims = acting(request)
    code = body(request, CodeIn).code
    async with request.app[SESSIONS]() as db:
        codes = await request.app[TWO_FACTOR].new_recovery_codes(db, await _me(db, claims), code)
        await db.commit()
    return RecoveryCodesOut(recovery_codes=codes)


@routes.route(
    "DELETE",
    "/users/{user_id}/two-factor",
    summary="Reset a staff member's two-factor authentication (they get one login to enrol again)",
    tag="users",
    roles=ADMINS,
)
async def reset_two_factor(request: web.Request) -> None:
    claims = acting(request)
    user_id = path_id(request, "user_id")
    async with request.app[SESSIONS]() as db:
        user = await own_row(db, User, user_id, claims, "user")
        await request.app[TWO_FACTOR].reset(db, user, actor=actor(claims))
        await db.commit()


@routes.route(
    "GET",
    "/organisation/two-factor",
    summary="Whether the organisation requires two-factor authentication of every role",
    tag="organisation",
    response=TwoFactorPolicyOut,
    roles=ADMINS,
)
async def get_policy(request: web.Request) -> TwoFactorPolicyOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        return TwoFactorPolicyOut(all_roles=await request.app[TWO_FACTOR].policy(db, claims.org_id))


@routes.route(
    "PATCH",
    "/organisation/two-factor",
    summary="Require two-factor authentication of every role (admin and dpo always need it)",
    tag="organisation",
    body=TwoFactorPolicyIn,
    response=TwoFactorPolicyOut,
    roles=ADMINS,
)
async def set_policy(request: web.Request) -> TwoFactorPolicyOut:
    claims = acting(request)
    all_roles = body(request, TwoFactorPolicyIn).all_roles
    async with request.app[SESSIONS]() as db:
        await request.app[TWO_FACTOR].set_policy(db, claims.org_id, all_roles=all_roles, actor=actor(claims))
        await db.commit()
    return TwoFactorPolicyOut(all_roles=all_roles)
