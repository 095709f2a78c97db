"""Widget keys of the caller's organisation (admins only), each with its embed snippet."""

from __future__ import annotations

import html

from aiohttp import web
from sqlalchemy import select

from accounts import directory
from accounts.models import WidgetKey
from api.admin_schemas import WidgetKeyCreate, WidgetKeyOut, WidgetKeyPatch
from api.api import ADMINS, Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor, own_row, path_id, public_base

routes = Api()


def embed_snippet(base: str, key: str) -> str:
    src = html.escape(f"{base}/widget.js", quote=True)
    return f'<script src="{src}" data-key="{html.escape(key, quote=True)}" async></script>'


def widget_key_out(key: WidgetKey, base: str) -> WidgetKeyOut:
    return WidgetKeyOut(
        id=key.id,
        key=key.key,
        origins=list(key.origins),
        context_keys=list(key.context_keys or []),
        active=key.active,
        created_at=key.created_at,
        embed_snippet=embed_snippet(base, key.key),
    )


@routes.route(
    "GET",
    "/widget-keys",
    summary="List the organisation's widget keys with their embed snippets",
    tag="widget-keys",
    response=list[WidgetKeyOut],
    roles=ADMINS,
)
async def list_widget_keys(request: web.Request) -> list[WidgetKeyOut]:
    claims = acting(request)
    base = public_base(request)
    async with request.app[SESSIONS]() as db:
        keys = await db.scalars(
            select(WidgetKey).where(WidgetKey.org_id == claims.org_id).order_by(WidgetKey.created_at)
        )
        return [widget_key_out(key, base) for key in keys]


@routes.route(
    "POST",
    "/widget-keys",
    summary="Create a widget key for the given website origins",
    tag="widget-keys",
    body=WidgetKeyCreate,
    response=WidgetKeyOut,
    roles=ADMINS,
    status=201,
)
async def create_widget_key(request: web.Request) -> WidgetKeyOut:
    claims = acting(request)
    data = body(request, WidgetKeyCreate)
    async with request.app[SESSIONS]() as db:
        key = await directory.create_widget_key(
            db,
            org_id=claims.org_id,
            origins=list(data.origins),
            actor=actor(claims),
            context_keys=list(data.context_keys),
        )
        await db.commit()
        return widget_key_out(key, public_base(request))


@routes.route(
    "PATCH",
    "/widget-keys/{widget_key_id}",
    summary="Change a widget key's origins or context keys, or switch it off",
    tag="widget-keys",
    body=WidgetKeyPatch,
    response=WidgetKeyOut,
    roles=ADMINS,
)
async def change_widget_key(request: web.Request) -> WidgetKeyOut:
    claims = acting(request)
    key_id = path_id(request, "widget_key_id")
    data = body(request, WidgetKeyPatch)
    async with request.app[SESSIONS]() as db:
        key = await own_row(db, WidgetKey, key_id, claims, "widget key")
        if data.model_fields_set:  # an empty PATCH changes nothing and so is not audited
            await directory.change_widget_key(
                db,
                key,
                actor=actor(claims),
                origins=list(data.origins) if data.origins is not None else None,
                active=data.active,
                context_keys=list(data.context_keys) if data.context_keys is not None else None,
            )
            await db.commit()
        return widget_key_out(key, public_base(request))
