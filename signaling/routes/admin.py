"""What the staff/admin resources (queues, users, widget keys, calls, audit events) share:
who is acting, org-scoped look-ups by path id, and query-string parsing.

Every row is looked up within the caller's organisation. Another organisation's id answers
404 exactly like an id that does not exist, so ids of other organisations are never confirmed.
"""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.api import staff
from signaling.errors import NotFound
from signaling.http import USER_ID
from signaling.tokens import StaffClaims


class OrgRow(Protocol):
    org_id: uuid.UUID


R = TypeVar("R", bound=OrgRow)
Q = TypeVar("Q", bound=BaseModel)


def acting(request: web.Request) -> StaffClaims:
    """The staff member making the request, noted for the access log."""
    claims = staff(request)
    request[USER_ID] = claims.user_id
    return claims


def actor(claims: StaffClaims) -> str:
    """How audit events name a staff member."""
    return f"user:{claims.user_id}"


def path_id(request: web.Request, name: str) -> uuid.UUID:
    """The UUID in path segment ``name``; anything else is a resource that does not exist."""
    raw = request.match_info[name]
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound(f"no such {name.removesuffix('_id').replace('_', ' ')}") from exc


async def own_row(db: AsyncSession, model: type[R], row_id: uuid.UUID, claims: StaffClaims, what: str) -> R:
    """Row ``row_id`` of ``model`` if it belongs to the caller's organisation, else 404."""
    row = await db.get(model, row_id)
    if row is None or row.org_id != claims.org_id:
        raise NotFound(f"no {what} {row_id}")
    return row
