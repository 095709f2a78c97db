"""Staff of the caller's organisation: supervisors and admins read them, admins change them.

A deactivation, a role, password or location change takes effect at once: the member's open
sockets are closed on every node, and a deactivation or a password change also denies the
access tokens they hold (``accounts.sessions``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import directory, locations, queries
from accounts.models import Role, User, queue_advisers
from api.admin_schemas import UserCreate, UserOut, UserPatch
from api.api import ADMINS, SUPERVISORS, Api, body
from api.keys import SESSIONS, STAFF_SESSIONS
from api.routes._common import acting, actor, own_row, path_id
from api.schemas import console_language
from db.errors import Conflict

routes = Api()


def user_out(user: User, queue_ids: Sequence[uuid.UUID]) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
        languages=list(user.languages),
        queue_ids=list(queue_ids),
        totp_enabled=user.totp_secret is not None,
        created_at=user.created_at,
        location_id=user.location_id,
        ui_language=console_language(user.ui_language),
    )


async def _served_by_user(db: AsyncSession, org_id: uuid.UUID) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await db.execute(
        select(queue_advisers.c.user_id, queue_advisers.c.queue_id)
        .join(User, User.id == queue_advisers.c.user_id)
        .where(User.org_id == org_id)
    )
    served: dict[uuid.UUID, list[uuid.UUID]] = {}
    for user_id, queue_id in rows:
        served.setdefault(user_id, []).append(queue_id)
    return served


@routes.route(
    "GET",
    "/users",
    summary="List the organisation's staff",
    tag="users",
    response=list[UserOut],
    roles=SUPERVISORS,
)
async def list_users(request: web.Request) -> list[UserOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        users = await db.scalars(select(User).where(User.org_id == claims.org_id).order_by(User.email))
        served = await _served_by_user(db, claims.org_id)
        return [user_out(user, served.get(user.id, [])) for user in users]


@routes.route(
    "POST",
    "/users",
    summary="Add a staff member",
    tag="users",
    body=UserCreate,
    response=UserOut,
    roles=ADMINS,
    status=201,
)
async def create_user(request: web.Request) -> UserOut:
    claims = acting(request)
    data = body(request, UserCreate)
    async with request.app[SESSIONS]() as db:
        user = await directory.create_user(
            db,
            org_id=claims.org_id,
            email=data.email,
            role=data.role.value,
            password=data.password,
            actor=actor(claims),
            display_name=data.display_name,
            languages=list(data.languages),
            queue_ids=list(data.queue_ids),
            location_id=data.location_id,
        )
        served = await queries.served_queue_ids(db, user.id)
        await db.commit()
        return user_out(user, served)


@routes.route(
    "PATCH",
    "/users/{user_id}",
    summary="Change a staff member's role, status, languages, queues or password",
    tag="users",
    body=UserPatch,
    response=UserOut,
    roles=ADMINS,
)
async def change_user(request: web.Request) -> UserOut:
    claims = acting(request)
    user_id = path_id(request, "user_id")
    data = body(request, UserPatch)
    changes = data.changes()
    if "queue_ids" in changes:
        changes["queue_ids"] = list(data.queue_ids or [])  # directory wants UUIDs, not strings
    if user_id == claims.user_id and (
        changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("active", True) is False
    ):
        # Ask another admin: an admin who can undo themselves can lock the organisation out.
        raise Conflict("you cannot demote or deactivate yourself", code="self_lockout")
    moved = "location_id" in changes
    changes.pop("location_id", None)
    async with request.app[SESSIONS]() as db:
        user = await own_row(db, User, user_id, claims, "user")
        was = (user.role, user.active, user.location_id)
        if changes:
            await directory.change_user(db, user, actor=actor(claims), changes=changes)
        if moved:
            await locations.assign(db, user, data.location_id, actor=actor(claims))
        served = await queries.served_queue_ids(db, user.id)
        await db.commit()
    reason = _cut_reason(was, user, password_changed="password" in changes)
    if reason is not None:
        await request.app[STAFF_SESSIONS].cut(
            user.id, reason, deny_logins=reason in ("deactivated", "password_changed")
        )
    return user_out(user, served)


def _cut_reason(was: tuple[str, bool, uuid.UUID | None], user: User, *, password_changed: bool) -> str | None:
    """Why ``user``'s open sessions must end after this change, or None."""
    role, active, location_id = was
    if active and not user.active:
        return "deactivated"
    if password_changed:
        return "password_changed"
    if role != user.role:
        return "role_changed"
    if location_id != user.location_id:
        return "location_changed"
    return None
