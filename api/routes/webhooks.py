"""Webhook endpoints of the caller's organisation and their delivery attempts (admins only).

The signing secret is in the answer to ``POST /webhooks`` and nowhere else, ever.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints
from sqlalchemy import select

import webhooks
from api.admin_schemas import Limit, Patch
from api.api import ADMINS, Api, body, query
from api.keys import SESSIONS
from api.routes._common import acting, actor, own_row, path_id
from signaling.payloads import Payload
from webhooks import WebhookConfig, WebhookDelivery, WebhookEndpoint

# The shell sets this (``allow_insecure_targets`` outside production); without it the
# production rules apply: https only, no private or loopback targets.
WEBHOOK_CONFIG: web.AppKey[WebhookConfig] = web.AppKey("webhook_config", WebhookConfig)

routes = Api()

# Loose on purpose: the webhooks package says precisely what is wrong with a URL or an event.
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=webhooks.MAX_URL_LENGTH)
]
EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Events = Annotated[list[EventName], Field(min_length=1, max_length=20)]


class WebhookCreate(Payload):
    url: Url
    events: Events
    active: bool = True


class WebhookPatch(Patch):
    url: Url | None = None
    events: Events | None = None
    active: bool | None = None


class WebhookOut(Payload):
    """An endpoint as admins see it: never its secret."""

    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    # Shown in this answer only: store it now, it cannot be read again.
    secret: str


class DeliveriesQuery(Payload):
    limit: Limit = 50
    # Only deliveries created strictly before this instant (pass the oldest ``created_at`` seen).
    before: AwareDatetime | None = None


class DeliveryOut(Payload):
    id: uuid.UUID
    event: str
    idempotency_key: uuid.UUID
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    data: dict[str, Any]


def _config(request: web.Request) -> WebhookConfig:
    return request.app.get(WEBHOOK_CONFIG) or WebhookConfig()


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        active=endpoint.active,
        created_at=endpoint.created_at,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event=delivery.event,
        idempotency_key=delivery.idempotency_key,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        data=dict(delivery.payload),
    )


@routes.route(
    "GET",
    "/webhooks",
    summary="List the organisation's webhook endpoints",
    tag="webhooks",
    response=list[WebhookOut],
    roles=ADMINS,
)
async def list_webhooks(request: web.Request) -> list[WebhookOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        endpoints = await db.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == claims.org_id)
            .order_by(WebhookEndpoint.created_at)
        )
        return [webhook_out(endpoint) for endpoint in endpoints]


@routes.route(
    "POST",
    "/webhooks",
    summary="Create a webhook endpoint; the answer holds its signing secret, shown this once",
    tag="webhooks",
    body=WebhookCreate,
    response=WebhookCreated,
    roles=ADMINS,
    status=201,
)
async def create_webhook(request: web.Request) -> WebhookCreated:
    claims = acting(request)
    data = body(request, WebhookCreate)
    async with request.app[SESSIONS]() as db:
        endpoint = await webhooks.create_endpoint(
            db,
            org_id=claims.org_id,
            url=data.url,
            events=data.events,
            active=data.active,
            actor=actor(claims),
            allow_insecure=_config(request).allow_insecure_targets,
        )
        await db.commit()
        secret = webhooks.reveal_secret(db, endpoint)  # stored sealed; shown this once
        return WebhookCreated(**webhook_out(endpoint).model_dump(), secret=secret)


@routes.route(
    "PATCH",
    "/webhooks/{webhook_id}",
    summary="Change a webhook endpoint's URL or events, or switch it off",
    tag="webhooks",
    body=WebhookPatch,
    response=WebhookOut,
    roles=ADMINS,
)
async def change_webhook(request: web.Request) -> WebhookOut:
    claims = acting(request)
    webhook_id = path_id(request, "webhook_id")
    changes = body(request, WebhookPatch).changes()
    async with request.app[SESSIONS]() as db:
        endpoint = await own_row(db, WebhookEndpoint, webhook_id, claims, "webhook")
        if changes:  # an empty PATCH changes nothing and so is not audited
            await webhooks.change_endpoint(
                db,
                endpoint,
                actor=actor(claims),
                changes=changes,
                allow_insecure=_config(request).allow_insecure_targets,
            )
            await db.commit()
        return webhook_out(endpoint)


@routes.route(
    "DELETE",
    "/webhooks/{webhook_id}",
    summary="Delete a webhook endpoint with its delivery history",
    tag="webhooks",
    roles=ADMINS,
)
async def delete_webhook(request: web.Request) -> None:
    claims = acting(request)
    webhook_id = path_id(request, "webhook_id")
    async with request.app[SESSIONS]() as db:
        endpoint = await own_row(db, WebhookEndpoint, webhook_id, claims, "webhook")
        await webhooks.delete_endpoint(db, endpoint, actor=actor(claims))
        await db.commit()


@routes.route(
    "GET",
    "/webhooks/{webhook_id}/deliveries",
    summary="A webhook endpoint's deliveries and how their attempts went, newest first",
    tag="webhooks",
    response=list[DeliveryOut],
    roles=ADMINS,
    query=DeliveriesQuery,
)
async def list_deliveries(request: web.Request) -> list[DeliveryOut]:
    claims = acting(request)
    webhook_id = path_id(request, "webhook_id")
    params = query(request, DeliveriesQuery)
    async with request.app[SESSIONS]() as db:
        await own_row(db, WebhookEndpoint, webhook_id, claims, "webhook")
        deliveries = await webhooks.endpoint_deliveries(
            db, webhook_id, limit=params.limit, before=params.before
        )
        return [delivery_out(delivery) for delivery in deliveries]
