"""Signed outgoing webhooks: endpoints per organisation, events enqueued as rows, signatures.

Events: ``call.ended``, ``recording.stored``, ``transcript.ready``, ``data.erased``. Code that
makes one happen calls ``enqueue_event`` inside its own transaction, so the delivery rows
exist exactly when the change they report was committed; the worker sends them
(``signaling.webhook_delivery``).

Each request is a POST of a JSON body::

    {"id": "<idempotency key>", "event": "call.ended", "created_at": "<ISO 8601>", "data": {...}}

with the headers ``Loket-Event``, ``Loket-Idempotency-Key`` (the same on every retry of one
delivery), ``Loket-Delivery-Attempt`` (1, 2, ...) and ``Loket-Signature: t=<unix seconds>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 keyed with the endpoint's secret (the whole ``whsec_...`` string,
UTF-8) over ``f"{t}.{raw body}"``, as Stripe does. A receiver verifies it so::

    import hashlib, hmac, time

    def verify(secret: str, header: str, raw_body: bytes, tolerance: int = 300) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - t) <= tolerance

Use the raw bytes as received, not re-encoded JSON; refuse old timestamps (replays); keep the
idempotency keys of handled deliveries for longer than the retries run (about 8 hours at the
defaults) and answer 2xx to a repeat. Any answer but 2xx, a redirect included, is retried.

Payloads carry no visitor data. They also leave out the call's **reference code**: that
code is the visitor's key to erasing and exporting their call (``/privacy/requests``), so
handing it to every integration would let a third party act on the visitor's data and tie
its own records to the visitor's privacy requests. The call id is enough to correlate, and
staff who need the reference read it from ``/api/v1/calls``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import audit, new_id, utcnow
from signaling.errors import InvalidInput, NotFound
from signaling.models import Organisation
from signaling.state import CallState
from signaling.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "DeliveryStatus",
    "WebhookConfig",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "call_ended_payload",
    "change_endpoint",
    "create_endpoint",
    "delete_endpoint",
    "endpoint_deliveries",
    "enqueue_event",
    "sign",
    "verify_signature",
]

MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix naming what the value is, not a secret
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """How webhooks are checked and sent. The defaults are production's.

    ``allow_insecure_targets`` admits ``http://`` URLs and targets on private, loopback and
    link-local addresses: for development and tests only. In production an admin must not
    be able to make the server probe its own network (SSRF).
    """

    allow_insecure_targets: bool = False
    timeout_seconds: float = 10.0
    max_attempts: int = 10
    # Attempt n waits base * 2**(n-1), capped, then jittered down by up to half: at the
    # defaults the 10 attempts span about 4 to 8.5 hours.
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 6 * 3600.0
    lease_seconds: float = 60.0
    # Deliveries one worker claims and sends at once.
    batch_size: int = 20

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.max_attempts < 1 or self.batch_size < 1:
            raise ValueError("timeout, attempts and batch size must be positive")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds:
            raise ValueError("retry delays must be positive, the base no larger than the maximum")
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("the lease must outlast a request's timeout")


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


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Loket-Signature`` header for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """The receiver's check (the recipe in this module's docstring), for tests and integrators."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def request_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent for ``delivery``: the same on every attempt."""
    envelope = {
        "id": str(delivery.idempotency_key),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


# -- events ----------------------------------------------------------------------------------


async def enqueue_event(
    db: AsyncSession, org_id: uuid.UUID, event: WebhookEvent | str, payload: dict[str, Any]
) -> int:
    """Owe ``event`` to every active endpoint of ``org_id`` subscribed to it: one delivery row
    each, written in the caller's transaction (the caller commits). Returns how many.

    ``payload`` must be JSON-ready and hold no visitor data (ids, codes of outcome,
    timestamps). Called by the switchboard for ``call.ended``; the recording, transcription
    and retention code call it for the other events.
    """
    name = WebhookEvent(event).value
    data: dict[str, Any] = json.loads(json.dumps(payload))  # fails here, not in the worker
    endpoints = await db.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.active.is_(True)
        )
    )
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "endpoint_id": endpoint_id,
            "event": name,
            "idempotency_key": uuid.uuid4(),
            "payload": data,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id, events in endpoints
        if name in events
    ]
    if rows:
        await db.execute(insert(WebhookDelivery), rows)
    return len(rows)


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


def call_ended_payload(call: CallState, *, outcome: str, reason: str, ended_at: float) -> dict[str, Any]:
    """``call.ended`` data: ids, outcome and times only (see the module doc on the reference)."""
    return {
        "call_id": call.id,
        "queue_id": call.queue_id or None,
        "outcome": str(outcome),
        "reason": reason,
        "joined_at": _iso(call.joined_at),
        "accepted_at": _iso(call.accepted_at),
        "ended_at": _iso(ended_at),
    }


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
    """A new endpoint with a fresh secret (``endpoint.secret``: show it once, then never again)."""
    if await db.get(Organisation, org_id) is None:
        raise NotFound(f"no organisation {org_id}", code="org_not_found")
    endpoint = WebhookEndpoint(
        org_id=org_id,
        url=check_url(url, allow_insecure=allow_insecure),
        events=check_events(events),
        active=active,
        secret=new_secret(),
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
