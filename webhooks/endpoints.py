"""Webhook endpoints per organisation: URL checks (public HTTPS addresses only), create, change,
delete, and the list of an endpoint's deliveries."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import audit, new_id
from db.errors import InvalidInput, NotFound
from db.tables import ORGANISATIONS
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.secrets import reveal, seal
from webhooks.signing import new_secret

MAX_URL_LENGTH = 2000


# -- checks ----------------------------------------------------------------------------------


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is globally routable: not private, loopback,
    link-local, shared (CGNAT), reserved or multicast, also when written IPv4-mapped in IPv6."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refused_host(host: str) -> str | None:
    """Why ``host`` (a URL's host) may not be a production target, or None. Names are checked
    again when they are resolved, at every delivery (see ``webhook_delivery``)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback host name"
    try:
        public = is_public_address(name)
    except ValueError:
        return None  # a DNS name
    return None if public else f"{name} is a private, loopback or reserved address"


def check_url(url: str, *, allow_insecure: bool) -> str:
    """``url`` if an endpoint may have it, else InvalidInput. Messages never repeat the URL:
    its query string may hold the receiver's own token."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url: at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise InvalidInput("url: not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url: give an absolute https:// URL")
    if parts.scheme != "https" and not allow_insecure:
        raise InvalidInput("url: must use https")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url: must not contain credentials (every request is signed instead)")
    if parts.fragment:
        raise InvalidInput("url: must not have a #fragment")
    if not allow_insecure and (reason := refused_host(parts.hostname)):
        raise InvalidInput(f"url: {reason}")
    return url


def check_events(events: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(event.strip() for event in events))
    if not cleaned:
        raise InvalidInput("events: subscribe to at least one event")
    known = {str(event) for event in WebhookEvent}
    for event in cleaned:
        if event not in known:
            raise InvalidInput(f"events: unknown event {event!r}; known are {', '.join(sorted(known))}")
    return cleaned


def _audited_url(url: str) -> str:
    """The URL as the (permanent) audit trail keeps it: without its query string."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "<redacted>" if parts.query else "", ""))


# -- signatures ------------------------------------------------------------------------------


# -- events ----------------------------------------------------------------------------------


# -- endpoints (the admin API and any CLI come through here) ---------------------------------


async def create_endpoint(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    url: str,
    events: Iterable[str],
    actor: str,
    active: bool = True,
    allow_insecure: bool = False,
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (``reveal_secret``: show it once, then never again)."""
    if await db.scalar(select(ORGANISATIONS.c.id).where(ORGANISATIONS.c.id == org_id)) is None:
        raise NotFound(f"no organisation {org_id}", code="org_not_found")
    endpoint_id = new_id()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        org_id=org_id,
        url=check_url(url, allow_insecure=allow_insecure),
        events=check_events(events),
        active=active,
        # Sealed at rest (webhooks.secrets); ``reveal_secret`` gives it back for the one answer.
        secret=seal(db.info, endpoint_id, new_secret()),
    )
    db.add(endpoint)
    await db.flush()
    await audit.record(
        db,
        actor=actor,
        action="webhook.create",
        target=f"webhook:{endpoint.id}",
        org_id=org_id,
        details={"url": _audited_url(endpoint.url), "events": endpoint.events, "active": active},
    )
    return endpoint


async def change_endpoint(
    db: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    actor: str,
    changes: dict[str, Any],
    allow_insecure: bool = False,
) -> WebhookEndpoint:
    """Apply ``changes`` (url, events, active). Deliveries already owed keep going to the
    endpoint's current URL; while it is inactive they wait, and go out when it is active again."""
    details: dict[str, Any] = {}
    if "url" in changes:
        endpoint.url = check_url(str(changes["url"]), allow_insecure=allow_insecure)
        details["url"] = _audited_url(endpoint.url)
    if "events" in changes:
        endpoint.events = check_events(changes["events"])
        details["events"] = endpoint.events
    if "active" in changes:
        endpoint.active = bool(changes["active"])
        details["active"] = endpoint.active
    if details:
        await audit.record(
            db,
            actor=actor,
            action="webhook.update",
            target=f"webhook:{endpoint.id}",
            org_id=endpoint.org_id,
            details=details,
        )
    return endpoint


async def delete_endpoint(db: AsyncSession, endpoint: WebhookEndpoint, *, actor: str) -> None:
    """Remove the endpoint with its delivery history; deliveries still owed are dropped."""
    pending = await db.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        )
    )
    await audit.record(
        db,
        actor=actor,
        action="webhook.delete",
        target=f"webhook:{endpoint.id}",
        org_id=endpoint.org_id,
        details={"url": _audited_url(endpoint.url), "dropped_pending_deliveries": int(pending or 0)},
    )
    await db.delete(endpoint)  # the database cascades to its deliveries


async def endpoint_deliveries(
    db: AsyncSession, endpoint_id: uuid.UUID, *, limit: int = 50, before: datetime | None = None
) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries, newest first (``before``: only those created earlier)."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before is not None:
        query = query.where(WebhookDelivery.created_at < before)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit)
    return (await db.scalars(query)).all()


def reveal_secret(db: AsyncSession, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret in clear (it is stored sealed, ``webhooks.secrets``)."""
    return reveal(db.info, endpoint.id, endpoint.secret)
