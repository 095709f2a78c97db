"""REST requests made with an API key (``Authorization: Bearer lk_...``) instead of a staff
access token: the key's scope for the endpoint, then its creator's role as it is now
(``accounts.api_keys`` states the rule)."""

from __future__ import annotations

from aiohttp import web

from accounts import api_keys
from accounts.models import User
from accounts.tokens import StaffClaims
from api.keys import SESSIONS
from api.middlewares import client_ip
from db.errors import Forbidden, Unauthenticated


def presented_key(request: web.Request) -> str | None:
    """The API key in the Authorization header, or None when the caller sent something else."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not api_keys.looks_like_key(token):
        return None
    return token


async def api_key_claims(request: web.Request, method: str, path: str, prefix: str) -> StaffClaims | None:
    """Claims for a request made with an API key, or None when it carries none. ``path`` is the
    endpoint's declared path; its first segment after ``prefix`` is the scope's resource."""
    key = presented_key(request)
    if key is None:
        return None
    resource = path.removeprefix(prefix).strip("/").split("/", 1)[0]
    needed = api_keys.scope_for(method, resource)
    async with request.app[SESSIONS]() as db:
        grant = await api_keys.authenticate(db, key, ip=client_ip(request))
        creator = await db.get(User, grant.created_by) if grant.created_by is not None else None
        await db.commit()
    if creator is None or not creator.active or creator.org_id != grant.org_id:
        raise Unauthenticated(
            "the admin who created this API key is no longer active", code="invalid_api_key"
        )
    if needed not in api_keys.SCOPES:
        raise Forbidden("API keys cannot use this endpoint", code="api_key_not_allowed")
    if needed not in grant.scopes:
        raise Forbidden(f"this API key lacks the scope {needed}", code="insufficient_scope")
    return StaffClaims(user_id=creator.id, org_id=creator.org_id, role=creator.role, api_key_id=grant.key_id)
