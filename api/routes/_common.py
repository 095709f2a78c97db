"""What the route modules share, so that no route module imports another: who is acting,
org-scoped look-ups by path id, query-string parsing, this server's public base URL, and the ICE
servers handed to a client.

Every row is looked up within the caller's organisation. Another organisation's id answers
404 exactly like an id that does not exist, so ids of other organisations are never confirmed.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.tokens import StaffClaims
from api.api import staff
from api.keys import CONFIG, SESSIONS
from api.middlewares import USER_ID
from db.errors import Forbidden, NotFound
from media.turn import ice_servers_with_credentials
from signaling.config import SignalingConfig


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
    """How audit events name a staff member, or the API key that made the request."""
    if claims.api_key_id is not None:
        return f"api_key:{claims.api_key_id}"
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


def ice_servers_for(config: SignalingConfig, *, lifetime: int) -> list[dict[str, Any]]:
    """The ICE servers for one client, TURN ones with credentials that expire with its token."""
    return ice_servers_with_credentials(list(config.ice_servers), config.turn_secret, ttl_seconds=lifetime)


def public_base(request: web.Request) -> str:
    """Where browsers reach this server: the configured public URL, else this request's host."""
    public_url = request.app[CONFIG].public_url
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def widget_cors(origin: str | None) -> dict[str, str]:
    """The CORS headers of a widget answer. No Allow-Credentials: the widget sends no cookies,
    its token travels in the Authorization header or the body."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


async def widget_preflight(request: web.Request, *, methods: str) -> web.Response:
    """CORS preflight for the widget's cross-origin requests. It carries no widget key or
    token, so any active key's origin is enough here; the request itself checks the origin
    against its own organisation's keys."""
    origin = request.headers.get("Origin", "")
    async with request.app[SESSIONS]() as db:
        allowed = bool(origin) and await queries.any_widget_key_allows(db, origin)
    if not allowed:
        raise Forbidden("this origin may not use the widget", code="origin_not_allowed")
    headers = {
        **widget_cors(origin),
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": "600",
    }
    return web.Response(status=204, headers=headers)
