"""aiohttp middlewares: every error as ``{"error": {code, message}}``, the access log, and the
installation-wide caps on anonymous creation."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from accounts import addresses, ratelimit
from accounts.addresses import Forwarding
from accounts.config import RateLimit
from accounts.types import Counters
from api.keys import FORWARDING, SESSIONS
from db import AccessLogEntry, LoketError, utcnow
from db.errors import RateLimited

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Set by handlers that know who is calling, so access-log rows can be found for erasure.
VISITOR_ID: web.RequestKey[str] = web.RequestKey("visitor_id", str)
USER_ID: web.RequestKey[uuid.UUID] = web.RequestKey("user_id", uuid.UUID)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        response = error_response(exc.status, exc.code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except LoketError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.reason)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")


def client_ip(request: web.Request) -> str:
    """The caller's address: the forwarding header is believed only from trusted proxies,
    every line of it counts, and the right-most address that is not a proxy is the client
    (``accounts.addresses``)."""
    forwarding = request.app.get(FORWARDING) or Forwarding()
    return forwarding.client(request.remote, request.headers.getall(forwarding.header, []))


def parse_networks(cidrs: Sequence[str]) -> tuple[addresses.Network, ...]:
    return addresses.parse_networks(cidrs)


# The widget's script loads on every page view of every customer's website, mostly for people who
# never call: logging their addresses would be collecting data with no purpose (GDPR art. 5(1)(c)).
# So a script served as asked leaves no row; a failed fetch still does.
UNLOGGED_SCRIPTS = ("/widget.js", "/assets/")


def _unlogged(request: web.Request, status: int) -> bool:
    return status < 400 and request.method in ("GET", "HEAD") and request.path.startswith(UNLOGGED_SCRIPTS)


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write one access_log row per request (purged after the configured days by the worker),
    except for the public scripts served as asked (``UNLOGGED_SCRIPTS``)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if not _unlogged(request, status):
            await _write_entry(request, status, started)


async def _write_entry(request: web.Request, status: int, started: float) -> None:
    entry = AccessLogEntry(
        occurred_at=utcnow(),
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:400],
        method=request.method[:10],
        path=request.path[:400],
        status=status,
        duration_ms=int((time.perf_counter() - started) * 1000),
        visitor_id=request.get(VISITOR_ID),
        user_id=request.get(USER_ID),
    )
    try:
        async with request.app[SESSIONS]() as db:
            db.add(entry)
            await db.commit()
    except Exception:
        # A failed log write must not turn a served request into an error.
        logger.exception("could not write the access log")


@dataclass(frozen=True, slots=True)
class CreationCap:
    """An installation-wide cap on one anonymous creation endpoint (``method`` ``path``),
    counted in the realtime store under ``name`` so every node counts together."""

    method: str
    path: str
    name: str
    limit: RateLimit


def anonymous_creation_caps(store: Counters, caps: Sequence[CreationCap]) -> Middleware:
    """Refuse anonymous creation beyond an installation-wide cap with 429 and Retry-After.

    The per-address limits (handlers) stop one caller; this stops many callers together (a
    botnet, or one IPv6 network with many /64s) from filling the database with visitor
    sessions or privacy requests. Only creations that succeeded are counted, so a flood of
    refused or malformed requests does not use up the cap for real visitors; under
    concurrency the cap may be passed by the requests already under way."""
    by_route = {(cap.method, cap.path): cap for cap in caps}

    @web.middleware
    async def capped(request: web.Request, handler: Handler) -> web.StreamResponse:
        cap = by_route.get((request.method, request.path))
        if cap is None:
            return await handler(request)
        if await ratelimit.peek(store, cap.name, cap.limit):
            raise RateLimited(
                "this service is very busy; try again shortly", retry_after=ratelimit.seconds_left(cap.limit)
            )
        response = await handler(request)
        if 200 <= response.status < 300:
            await ratelimit.count(store, cap.name, cap.limit)
        return response

    return capped
