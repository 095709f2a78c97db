"""Sending the deliveries ``webhooks.enqueue_event`` wrote: claim, sign, POST, record.

A pass claims due rows with a lease (``claimed_by``/``lease_until``, through
``db.jobs.claim_rows``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE ...
RETURNING`` on SQLite), sends them side by side, and records each answer while it still holds
the lease (``db.jobs.update_if_held``). A 2xx answer marks the row delivered; anything else
(another status, a redirect, a timeout, a refused target) counts an attempt and schedules the
next one with capped exponential backoff and jitter (``db.jobs.backoff``), until the last allowed
attempt marks it failed. Delivery is at least once: a worker that dies after the receiver
answered, before recording it, leaves the row to be sent again once its lease runs out, with the
same ``Loket-Idempotency-Key``; so does a pass that the worker gives up at its timeout.

Redirects are never followed (a receiver could point us anywhere). Unless the configuration
allows insecure targets, a target that is, or resolves to, a private, loopback, link-local or
reserved address is refused: the URL's host is checked (and resolved) before sending, and names
again by the resolver of ``webhook_http_session`` when the connection is made, so a name that
changes its address between the check and the connection (DNS rebinding) still cannot reach
inside.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory
from db.jobs import Clock, backoff, claim_rows, default_worker_id, update_if_held
from webhooks.config import WebhookConfig
from webhooks.endpoints import is_public_address, refused_host
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.secrets import SecretUnavailable, reveal
from webhooks.signing import request_body, sign

logger = logging.getLogger(__name__)

USER_AGENT = "Loket-Webhooks/1"
_ERROR_LENGTH = 500
_DEFAULT = WebhookConfig()


class TargetRefused(OSError):
    """The target is on an address production must not reach. An OSError, so that aiohttp
    reports it from the resolver as a connection error (with this as its cause)."""


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses non-public addresses."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            if not is_public_address(result["host"].split("%", 1)[0]):
                raise TargetRefused(f"{host} resolves to a private, loopback or reserved address")
        return results

    async def close(self) -> None:
        await self._resolver.close()


def webhook_http_session(config: WebhookConfig = _DEFAULT) -> aiohttp.ClientSession:
    """The client session deliveries go through; create it in a running loop, close it when done."""
    resolver = None if config.allow_insecure_targets else GuardedResolver()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver, limit_per_host=4),
        # Never a proxy from the environment: the target check must see the real target.
        trust_env=False,
    )


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery: WebhookDelivery
    url: str
    # None: no configured master key opens the endpoint's sealed secret (a key retired
    # without LOKET_RETIRED_MASTER_KEYS); that delivery fails its attempt, the others go on.
    secret: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending and due (``claim_rows`` adds: nobody holds it, or its holder's lease ran out)."""
    return and_(
        WebhookDelivery.status == DeliveryStatus.PENDING.value,
        WebhookDelivery.next_attempt_at <= now,
        # An inactive endpoint's deliveries wait for it to be switched on again.
        WebhookDelivery.endpoint_id.in_(select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))),
    )


async def _claim(db: AsyncSession, *, worker_id: str, now: datetime, config: WebhookConfig) -> list[_Claimed]:
    """Take up to ``batch_size`` due deliveries, longest due first, under a lease, with their
    endpoint's URL and secret; the caller commits."""
    rows = await claim_rows(
        db,
        WebhookDelivery,
        _due(now),
        worker_id=worker_id,
        now=now,
        lease=timedelta(seconds=config.lease_seconds),
        limit=config.batch_size,
        order_by=(WebhookDelivery.next_attempt_at,),
        columns=(WebhookDelivery.id,),
    )
    if not rows:
        return []
    claimed = await db.execute(
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_([row.id for row in rows]))
        .order_by(WebhookDelivery.next_attempt_at)
    )
    return [
        _Claimed(delivery, url, _revealed(db, delivery.endpoint_id, secret))
        for delivery, url, secret in claimed
    ]


def _revealed(db: AsyncSession, endpoint_id: uuid.UUID, stored: str) -> str | None:
    try:
        return reveal(db.info, endpoint_id, stored)
    except SecretUnavailable:
        logger.error("webhook endpoint %s: no configured master key opens its signing secret", endpoint_id)
        return None


async def _check_target(guard: GuardedResolver, url: str) -> None:
    """Refuse a literal non-public address (aiohttp never resolves those) and, whatever
    session the caller passed, a name that resolves to one now."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    reason = refused_host(host)
    if reason:
        raise TargetRefused(reason)
    try:
        is_public_address(host)
    except ValueError:
        await guard.resolve(host, parts.port or 443, family=socket.AF_UNSPEC)


async def _send(
    http: aiohttp.ClientSession, item: _Claimed, config: WebhookConfig, guard: GuardedResolver | None
) -> _Outcome:
    delivery = item.delivery
    if item.secret is None:
        return _Outcome(False, error="signing secret unavailable: no configured master key opens it")
    body = request_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Loket-Event": delivery.event,
        "Loket-Idempotency-Key": str(delivery.idempotency_key),
        "Loket-Delivery-Attempt": str(delivery.attempts + 1),
        # Signed at sending time, so the receiver's freshness check holds on every retry.
        "Loket-Signature": sign(item.secret, body, int(time.time())),
    }
    try:
        if guard is not None:
            await _check_target(guard, item.url)
        async with http.post(
            item.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
        ) as response:
            status = response.status
    except asyncio.CancelledError:
        raise
    except TargetRefused as exc:
        return _Outcome(False, error=f"target refused: {exc}")
    except TimeoutError:
        return _Outcome(False, error=f"no answer within {config.timeout_seconds:g} s")
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, TargetRefused):
            return _Outcome(False, error=f"target refused: {exc.os_error}")
        return _Outcome(False, error=f"could not connect ({type(exc).__name__})")
    except aiohttp.ClientError as exc:
        return _Outcome(False, error=f"request failed ({type(exc).__name__})")
    except OSError as exc:  # the target check's own name resolution failed
        return _Outcome(False, error=f"could not resolve the host ({type(exc).__name__})")
    except Exception as exc:
        logger.exception("unexpected error sending webhook delivery %s", delivery.id)
        return _Outcome(False, error=f"internal error ({type(exc).__name__})")
    if 200 <= status < 300:
        return _Outcome(True, status_code=status)
    if 300 <= status < 400:
        return _Outcome(False, status_code=status, error=f"HTTP {status}: redirects are not followed")
    return _Outcome(False, status_code=status, error=f"HTTP {status}")


async def _record(
    db: AsyncSession,
    item: _Claimed,
    outcome: _Outcome,
    *,
    worker_id: str,
    now: datetime,
    config: WebhookConfig,
) -> bool:
    """Store the attempt's outcome while ``worker_id`` still holds the lease; False if it does not."""
    delivery = item.delivery
    attempts = delivery.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:_ERROR_LENGTH] if outcome.error else None,
        "claimed_by": None,
        "lease_until": None,
    }
    if outcome.delivered:
        values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now, next_attempt_at=None)
    elif attempts >= config.max_attempts:
        values.update(status=DeliveryStatus.FAILED.value, next_attempt_at=None)
        logger.warning("webhook delivery %s failed for good after %d attempts", delivery.id, attempts)
    else:
        delay = backoff(attempts, base=config.retry_base_seconds, cap=config.retry_max_seconds, jitter=True)
        values.update(next_attempt_at=now + delay)
    return await update_if_held(db, WebhookDelivery, delivery.id, worker_id, **values)


async def deliver_pending(
    sessions: SessionFactory,
    http: aiohttp.ClientSession,
    now: datetime | None = None,
    *,
    worker_id: str | None = None,
    config: WebhookConfig = _DEFAULT,
    max_batches: int = 50,
) -> int:
    """One pass of the webhook worker: send every due delivery, a batch at a time.

    Returns how many were delivered. ``now`` is the pass's start (tests pass a later one to
    reach retries); it advances with real time while the pass runs. Safe in any number of
    workers at once.
    """
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    guard = None if config.allow_insecure_targets else GuardedResolver()
    delivered = 0
    try:
        for _ in range(max_batches):
            async with sessions() as db:
                claimed = await _claim(db, worker_id=worker_id, now=clock(), config=config)
                await db.commit()
            if not claimed:
                break
            outcomes = await asyncio.gather(*(_send(http, item, config, guard) for item in claimed))
            async with sessions() as db:
                for item, outcome in zip(claimed, outcomes, strict=True):
                    held = await _record(db, item, outcome, worker_id=worker_id, now=clock(), config=config)
                    if held and outcome.delivered:
                        delivered += 1
                    elif not held:
                        logger.warning("webhook delivery %s was taken from this worker", item.delivery.id)
                await db.commit()
    finally:
        if guard is not None:
            await guard.close()
    return delivered


class WebhookSender:
    """The worker's webhook job: owns the HTTP client session all deliveries share."""

    def __init__(
        self, sessions: SessionFactory, *, config: WebhookConfig = _DEFAULT, worker_id: str | None = None
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._worker_id = worker_id or default_worker_id()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._http is None:
            self._http = webhook_http_session(self._config)

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def run(self, now: datetime | None = None) -> int:
        """One pass of ``deliver_pending`` on the shared HTTP session, as this worker."""
        if self._http is None:
            raise RuntimeError("WebhookSender.run() before start()")
        return await deliver_pending(
            self._sessions, self._http, now, worker_id=self._worker_id, config=self._config
        )
