"""Assemble the aiohttp application: database, realtime state, socket.io, REST, worker.

``create_app`` builds the node's services (``loket.services``), puts them where the handlers
find them (``api.keys``, ``loket.app_keys``), mounts the routes (``loket.routing``) and hands
the services' start and stop to the app (``loket.lifecycle``). Nothing connects until the app
starts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import (
    AUTH,
    CONFIG,
    FORWARDING,
    RECORDINGS_CONFIG,
    SESSIONS,
    STAFF_SESSIONS,
    STORAGE,
    STORE,
    SWITCHBOARD,
    TOKENS,
    TRUSTED_PROXIES,
    TWO_FACTOR,
)
from api.middlewares import CreationCap, access_log, anonymous_creation_caps, errors_as_json, parse_networks
from api.routes import attachments as attachment_routes
from api.routes import webhooks as webhook_routes
from loket.app_keys import API, METRICS, METRICS_SERVER, SETTINGS, SIO
from loket.lifecycle import SHUTDOWN_STEP_SECONDS, lifecycle, stop_socketio_redis
from loket.readiness import READINESS
from loket.routing import WIDGET_CACHE_CONTROL, mount_routes
from loket.services import TRANSPORT_MAX_BYTES, Services, build_services
from loket.settings import Settings
from signaling.config import SignalingConfig
from signaling.metrics import Metrics
from signaling.store import RealtimeStore
from signaling.store import keys as store_keys

# Where they were before the shell was split: tests and tools import them from here.
__all__ = [
    "API",
    "METRICS",
    "METRICS_SERVER",
    "SETTINGS",
    "SHUTDOWN_STEP_SECONDS",
    "SIO",
    "TRANSPORT_MAX_BYTES",
    "WIDGET_CACHE_CONTROL",
    "create_app",
    "stop_socketio_redis",
]


def create_app(settings: Settings, *, run_worker: bool = True, run_media: bool = True) -> web.Application:
    """Build the whole signalling node. Nothing connects until the app starts."""
    services = build_services(settings, run_media=run_media)
    config = services.config
    app = web.Application(middlewares=[access_log, errors_as_json], client_max_size=config.max_payload_bytes)
    services.sio.attach(app)
    _store_services(app, settings, services)
    app.middlewares.append(_creation_caps(services.store, config))
    mount_routes(app, settings)
    app.cleanup_ctx.append(lifecycle(settings, services, run_worker=run_worker))
    # Outermost, so error responses raised by handlers are counted too.
    app.middlewares.insert(0, _count_requests(services.metrics))
    return app


def _store_services(app: web.Application, settings: Settings, services: Services) -> None:
    """Put the services where the handlers look them up."""
    app[SETTINGS] = settings
    app[CONFIG] = services.config
    app[SESSIONS] = services.sessions
    app[STORE] = services.store
    app[TOKENS] = services.tokens
    app[TWO_FACTOR] = services.two_factor
    app[AUTH] = services.auth
    app[SWITCHBOARD] = services.switchboard
    app[METRICS] = services.metrics
    app[SIO] = services.sio
    app[TRUSTED_PROXIES] = parse_networks(services.config.trusted_proxies)
    app[FORWARDING] = services.forwarding
    app[STAFF_SESSIONS] = services.staff_sessions
    app[STORAGE] = services.storage
    app[RECORDINGS_CONFIG] = services.recordings
    app[webhook_routes.WEBHOOK_CONFIG] = settings.webhooks()
    app[attachment_routes.ATTACHMENTS] = services.attachments
    app[READINESS] = services.readiness
    if services.metrics_listener is not None:
        app[METRICS_SERVER] = services.metrics_listener


def _creation_caps(store: RealtimeStore, config: SignalingConfig) -> Any:
    """The installation-wide caps on what anonymous requests may create."""
    return anonymous_creation_caps(
        store,
        [
            CreationCap(
                "POST",
                "/api/v1/widget/sessions",
                store_keys.anonymous_creations("widget-sessions"),
                config.widget_sessions_installation,
            ),
            CreationCap(
                "POST",
                "/api/v1/privacy/requests",
                store_keys.anonymous_creations("privacy-requests"),
                config.privacy_requests_installation,
            ),
        ],
    )


def _count_requests(metrics: Metrics) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        metrics.http_requests.labels(request.method, str(response.status)).inc()
        return response

    return count
