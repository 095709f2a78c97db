"""API keys of the caller's organisation (admins only): list, create (the key is answered
once), revoke, and the scopes a key may hold."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from accounts import api_keys
from accounts.credential_models import ApiKey
from api.api import ADMINS, Api, body
from api.credential_schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ScopesOut
from api.keys import SESSIONS
from api.routes._common import acting, actor, own_row, path_id
from db import utcnow

routes = Api()


def api_key_out(row: ApiKey) -> ApiKeyOut:
    now = utcnow()
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        hint=row.hint,
        scopes=list(row.scopes),
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        last_used_ip=row.last_used_ip,
        active=row.revoked_at is None and (row.expires_at is None or row.expires_at > now),
    )


@routes.route(
    "GET",
    "/api-key-scopes",
    summary="The scopes an API key may hold",
    tag="api-keys",
    response=ScopesOut,
    roles=ADMINS,
)
async def list_scopes(_request: web.Request) -> ScopesOut:
    return ScopesOut(scopes=sorted(api_keys.SCOPES))


@routes.route(
    "GET",
    "/api-keys",
    summary="List the organisation's API keys (never the keys themselves)",
    tag="api-keys",
    response=list[ApiKeyOut],
    roles=ADMINS,
)
async def list_api_keys(request: web.Request) -> list[ApiKeyOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        rows = await db.scalars(
            select(ApiKey).where(ApiKey.org_id == claims.org_id).order_by(ApiKey.created_at)
        )
        return [api_key_out(row) for row in rows]


@routes.route(
    "POST",
    "/api-keys",
    summary="Create an API key with scopes and an optional expiry; the answer holds the key, this once",
    tag="api-keys",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    roles=ADMINS,
    status=201,
)
async def create_api_key(request: web.Request) -> ApiKeyCreated:
    claims = acting(request)
    data = body(request, ApiKeyCreate)
    async with request.app[SESSIONS]() as db:
        row, key = await api_keys.create(
            db,
            org_id=claims.org_id,
            name=data.name,
            scopes=data.scopes,
            expires_at=data.expires_at,
            created_by=claims.user_id,
            actor=actor(claims),
        )
        await db.commit()
        return ApiKeyCreated(**api_key_out(row).model_dump(), key=key)


@routes.route(
    "DELETE",
    "/api-keys/{key_id}",
    summary="Revoke an API key: it is refused from the next request on",
    tag="api-keys",
    roles=ADMINS,
)
async def revoke_api_key(request: web.Request) -> None:
    claims = acting(request)
    key_id = path_id(request, "key_id")
    async with request.app[SESSIONS]() as db:
        row = await own_row(db, ApiKey, key_id, claims, "API key")
        await api_keys.revoke(db, row, actor=actor(claims))
        await db.commit()
