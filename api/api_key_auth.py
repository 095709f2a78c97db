"""REST requests made with an API key (``Authorization: Bearer lk_...``) instead of a staff
access token: the key's scope for the endpoint, then its creator's role as it is now
(``accounts.api_keys`` states the rule).

A key works only from where its creator may work: when the admin who made it is bound to a
location, the request's address must be in that location's allowlist, as for the admin's own
requests (``ip_not_allowed``; the key is not marked used). Otherwise a key would carry its
creator's powers past the allowlist the organisation set for them. An integration that must
call from elsewhere gets its key from an admin without a location (or one whose location
allows the integration's addresses)."""

from __future__ import annotations

from aiohttp import web

from accounts import api_keys, locations
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
    address = client_ip(request)
    async with request.app[SESSIONS]() as db:
        grant = await api_keys.authenticate(db, key, ip=address)
        creator = await db.get(User, grant.created_by) if grant.created_by is not None else None
        if creator is None or not creator.active or creator.org_id != grant.org_id:
            raise Unauthenticated(
                "the admin who created this API key is no longer active", code="invalid_api_key"
            )
        if not await locations.address_allowed(db, creator.location_id, address):
            await db.rollback()
            raise Forbidden(
                "this API key's creator is bound to a location that does not allow this network",
                code="ip_not_allowed",
            )
        await db.commit()
    if needed not in api_keys.SCOPES:
        raise Forbidden("API keys cannot use this endpoint", code="api_key_not_allowed")
    if needed not in grant.scopes:
        raise Forbidden(f"this API key lacks the scope {needed}", code="insufficient_scope")
    return StaffClaims(user_id=creator.id, org_id=creator.org_id, role=creator.role, api_key_id=grant.key_id)
