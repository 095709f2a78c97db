"""Assemble the aiohttp application: database, realtime state, socket.io, REST, worker."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import loket
from accounts.addresses import Forwarding
from accounts.auth import StaffAuth
from accounts.config import AuthConfig
from accounts.sessions import StaffSessions
from accounts.tokens import TokenService
from accounts.two_factor import TwoFactor
from api.api import Api
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
from api.middlewares import (
    CreationCap,
    access_log,
    anonymous_creation_caps,
    error_response,
    errors_as_json,
    parse_networks,
)
from api.routes import api_keys as api_key_routes
from api.routes import attachments as attachment_routes
from api.routes import audit_events as audit_event_routes
from api.routes import auth as auth_routes
from api.routes import calls as call_routes
from api.routes import locations as location_routes
from api.routes import organisation as organisation_routes
from api.routes import privacy as privacy_routes
from api.routes import queues as queue_routes
from api.routes import recordings as recording_routes
from api.routes import retention_rules as retention_rule_routes
from api.routes import statistics as statistics_routes
from api.routes import transcripts as transcript_routes
from api.routes import two_factor as two_factor_routes
from api.routes import users as user_routes
from api.routes import wallboard as wallboard_routes
from api.routes import webhooks as webhook_routes
from api.routes import widget as widget_routes
from api.routes import widget_keys as widget_key_routes
from db import SessionFactory, create_engine, create_session_factory, migrate
from loket.media_node import NodeWithUploads
from loket.metrics_server import MetricsServer, Scraper, metrics_server
from loket.observability import JobState, MediaState, QueueState, Source, WorkerMetrics
from loket.pages import add_page_routes
from loket.readiness import READINESS, Readiness, readyz
from loket.settings import Settings, SettingsError
from loket.worker import Worker
from media.metrics import RtpDropsCollector
from media.placement import InProcessPlacement, MediaPlacement
from media.remote import RemotePlacement
from media.stats import MediaStats
from privacy import DpaText, publish_dpa
from recordings import RecordingsConfig, Storage, storage_from_config
from signaling.attachments import Attachments
from signaling.chat import Chat
from signaling.guarded_packet import GuardedPacket
from signaling.metrics import Metrics
from signaling.outbox import Outbox
from signaling.recording import RecordingControl
from signaling.redis_manager import RedisManager
from signaling.sockets import AdviserNamespace, VisitorNamespace
from signaling.staff_watch import StaffWatch
from signaling.store import MemoryStore, RealtimeStore, RedisStore
from signaling.store import keys as store_keys
from signaling.switchboard import Switchboard

logger = logging.getLogger(__name__)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
METRICS_SERVER: web.AppKey[MetricsServer] = web.AppKey("metrics_server", MetricsServer)
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
API: web.AppKey[Api] = web.AppKey("api", Api)

# The transport's own hard ceiling; the per-event limit (64 KiB) is checked in the handler,
# so a client over it gets an error ack instead of a dropped connection.
TRANSPORT_MAX_BYTES = 1_000_000

# The embeddable widget, built by `cd widget && npm ci && npm run build` (`make widget`).
# Short: a new release reaches every customer's website within minutes; ETag revalidates.
WIDGET_CACHE_CONTROL = "public, max-age=300"

# How long each step of the shutdown may take before the next one goes on without it.
SHUTDOWN_STEP_SECONDS = 10.0


def create_app(settings: Settings, *, run_worker: bool = True, run_media: bool = True) -> web.Application:
    """Build the whole signalling node. Nothing connects until the app starts."""
    config = settings.signaling()
    redis_prefix = settings.redis_prefix
    app = web.Application(middlewares=[access_log, errors_as_json], client_max_size=config.max_payload_bytes)
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine, keys=settings.installation_keys())
    store: RealtimeStore = (
        RedisStore(settings.redis_url, prefix=redis_prefix) if settings.redis_url else MemoryStore()
    )
    tokens = TokenService(
        secret_key=config.secret_key,
        issuer=config.issuer,
        access_seconds=config.access_token_seconds,
        visitor_seconds=config.visitor_token_seconds,
    )
    metrics = Metrics()
    metrics.registry.register(RtpDropsCollector())  # the relay's dropped packets, by reason
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=(
            RedisManager(settings.redis_url, channel=f"{redis_prefix}socketio")
            if settings.redis_url
            else None
        ),
        # Auth is a bearer token in the connect payload, never a cookie, so the page's
        # origin grants nothing; the widget-session endpoint is where origins are checked.
        cors_allowed_origins="*",
        max_http_buffer_size=TRANSPORT_MAX_BYTES,
        # Payloads parsed with limits: a too deep or huge-number packet gets an error ack, not a traceback.
        serializer=GuardedPacket,
        logger=False,
        engineio_logger=False,
    )

    async def emit(event: str, data: dict[str, Any], room: str, namespace: str) -> None:
        await sio.emit(event, data, room=room, namespace=namespace)

    outbox = Outbox(store, emit, log_seconds=config.resume_window_seconds)
    recordings = settings.recordings()
    storage = storage_from_config(recordings)
    media, local_node = _media_placement(
        settings, recordings, run_media=run_media, storage=storage, sessions=sessions
    )
    recording = (
        RecordingControl(sessions=sessions, media=media, spool_dir=recordings.spool_dir) if media else None
    )
    switchboard = Switchboard(
        store=store,
        outbox=outbox,
        sessions=sessions,
        config=config,
        media=media,
        recording=recording,
        calls=metrics.calls,
    )
    chat = Chat(
        calls=switchboard, outbox=outbox, sessions=sessions, store=store, limit=config.chat_per_session
    )
    namespace_args: dict[str, Any] = {
        "switchboard": switchboard,
        "chat": chat,
        "outbox": outbox,
        "tokens": tokens,
        "metrics": metrics,
        "max_payload_bytes": config.max_payload_bytes,
    }
    forwarding = Forwarding(parse_networks(config.trusted_proxies), config.forwarded_header)
    namespace_args["forwarding"] = forwarding
    staff_sessions = StaffSessions(sessions=sessions, store=store, access_seconds=config.access_token_seconds)
    staff_watch = StaffWatch(store=store)
    sio.register_namespace(VisitorNamespace(**namespace_args))
    sio.register_namespace(
        AdviserNamespace(**namespace_args, staff_sessions=staff_sessions, staff_watch=staff_watch)
    )
    sio.attach(app)

    app[SETTINGS] = settings
    app[CONFIG] = config
    app[SESSIONS] = sessions
    app[STORE] = store
    app[TOKENS] = tokens
    auth_config = AuthConfig(
        login_per_ip=config.login_per_ip,
        login_failures_per_account=config.login_failures_per_account,
        refresh_token_seconds=config.refresh_token_seconds,
    )
    two_factor = TwoFactor(master_key=settings.resolved_master_key(), store=store)
    app[TWO_FACTOR] = two_factor
    app[AUTH] = StaffAuth(
        sessions=sessions,
        store=store,
        tokens=tokens,
        config=auth_config,
        two_factor=two_factor,
        staff_sessions=staff_sessions,
    )
    app[SWITCHBOARD] = switchboard
    app[METRICS] = metrics
    app[SIO] = sio
    app[TRUSTED_PROXIES] = parse_networks(config.trusted_proxies)
    app[FORWARDING] = forwarding
    app[STAFF_SESSIONS] = staff_sessions
    app.middlewares.append(
        anonymous_creation_caps(
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
    )
    app[STORAGE] = storage
    app[RECORDINGS_CONFIG] = recordings
    app[webhook_routes.WEBHOOK_CONFIG] = settings.webhooks()
    app[attachment_routes.ATTACHMENTS] = Attachments(
        calls=switchboard,
        outbox=outbox,
        sessions=sessions,
        master_key=recordings.master_key,
        master_keys=(recordings.master_key, *recordings.retired_master_keys),
    )

    api = Api()
    for module_routes in (
        auth_routes.routes,
        widget_routes.routes,
        attachment_routes.routes,
        queue_routes.routes,
        user_routes.routes,
        widget_key_routes.routes,
        call_routes.routes,
        audit_event_routes.routes,
        retention_rule_routes.routes,
        webhook_routes.routes,
        privacy_routes.routes,
        recording_routes.routes,
        statistics_routes.routes,
        wallboard_routes.routes,
        transcript_routes.routes,
        organisation_routes.routes,
        location_routes.routes,
        two_factor_routes.routes,
        api_key_routes.routes,
    ):
        api.endpoints.extend(module_routes.endpoints)
    api.install(app)
    app[API] = api
    for widget_path in widget_routes.CORS_PATHS:
        app.router.add_route("OPTIONS", "/api/v1" + widget_path, widget_routes.preflight)
    attachment_routes.install_preflights(app)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    # No /metrics here: it is served on LOKET_METRICS_PORT only (loket.metrics_server says why).
    readiness = Readiness(
        sessions=sessions,
        store=store,
        storage=storage,
        media_cluster=settings.cluster() if settings.redis_url else None,
    )
    app[READINESS] = readiness
    scraper = _scraper(metrics, sessions=sessions, store=store, media=media, local_node=local_node)
    metrics_listener = metrics_server(settings, scraper)
    if metrics_listener is not None:
        app[METRICS_SERVER] = metrics_listener
    app.router.add_get("/widget.js", widget_script)
    add_page_routes(app, settings)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if make_url(settings.database_url).get_backend_name() == "sqlite":
            # The embedded database upgrades itself; PostgreSQL is upgraded by the operator
            # (`loket db upgrade`) so several nodes never race on a migration.
            _ensure_sqlite_dir(settings.database_url)
            await migrate.upgrade(settings.database_url)
        # The DPA this installation asks organisations to accept (privacy.dpa). A database that
        # is down must not stop the process from starting (/readyz says so): publish it once back.
        dpa = settings.dpa()
        dpa_publishing = (
            None if await _published(sessions, dpa) else asyncio.create_task(_publish_later(sessions, dpa))
        )
        await store.start()
        if metrics_listener is not None:
            await metrics_listener.start()
        if local_node is not None:
            # The node first: calls can be placed on it as soon as signalling takes any.
            await local_node.start()
        if media is not None:
            await media.start()
        await switchboard.start()
        await staff_watch.start()
        worker = (
            Worker(
                sessions=sessions,
                access_log_days=settings.access_log_days,
                storage=storage,
                recordings=recordings,
                webhooks=settings.webhooks(),
                transcription=settings.transcription(),
                config=settings.worker(),
                metrics=WorkerMetrics(metrics.registry),
            )
            if run_worker
            else None
        )
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if dpa_publishing is not None:
                dpa_publishing.cancel()
            if worker is not None:
                # The worker's own grace first (a step under way may finish), then the usual bound.
                await _bounded(
                    "worker",
                    worker.stop(),
                    seconds=settings.worker_stop_grace_seconds + SHUTDOWN_STEP_SECONDS,
                )
            await _bounded("socket.io", sio.shutdown())
            await _bounded("socket.io pub/sub", _stop_pubsub(sio))
            await _bounded("staff watch", staff_watch.stop())
            await _bounded("switchboard", switchboard.stop())
            if media is not None:
                await _bounded("media", media.stop())
            if local_node is not None:
                # Last: its calls' files are finished and its uploads let go before it goes.
                await _bounded(
                    "media node",
                    local_node.stop(),
                    seconds=settings.worker_stop_grace_seconds + SHUTDOWN_STEP_SECONDS,
                )
            if metrics_listener is not None:
                await _bounded("metrics", metrics_listener.stop())
            await _bounded("readiness", readiness.stop())
            await _bounded("storage", storage.stop())
            await _bounded("realtime store", store.stop())
            await _bounded("database", engine.dispose())

    app.cleanup_ctx.append(lifecycle)
    # Outermost, so error responses raised by handlers are counted too.
    app.middlewares.insert(0, _count_requests(metrics))
    return app


def _media_placement(
    settings: Settings,
    recordings: RecordingsConfig,
    *,
    run_media: bool,
    storage: Storage,
    sessions: SessionFactory,
) -> tuple[MediaPlacement | None, NodeWithUploads | None]:
    """Where this process's calls get their media (docs/architecture.md, "Media nodes").

    Without Redis: in this process (the embedded mode), spooling where the worker uploads from.
    With Redis, on the registered media nodes, so that replicas sharing Redis never split a
    call: this process's own media registers as one (with its own upload loop) unless
    ``--no-media``, and then it only places calls on the others (``loket media``)."""
    if not settings.redis_url:
        if not run_media:
            raise SettingsError(
                "--no-media places calls on media nodes, which share LOKET_REDIS_URL: set it "
                "(and LOKET_MEDIA_SECRET), or leave --no-media out for media in this process"
            )
        return InProcessPlacement(settings.media(), spool_dir=recordings.spool_dir), None
    cluster = settings.cluster()
    if not run_media:
        return RemotePlacement(cluster), None
    node = NodeWithUploads(settings=settings, sessions=sessions, storage=storage, recordings=recordings)
    return RemotePlacement(cluster, local=node.node), node


def _ensure_sqlite_dir(database_url: str) -> None:
    database = make_url(database_url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


async def _bounded(step: str, stopping: Awaitable[object], seconds: float = SHUTDOWN_STEP_SECONDS) -> None:
    """One step of the shutdown, which may not hold the others up for ever: a step that hangs
    (a lost connection, a library's background task) is logged by name and left behind."""
    try:
        async with asyncio.timeout(seconds):
            await stopping
    except TimeoutError:
        logger.error("shutdown: stopping the %s took over %g s; going on without it", step, seconds)


async def _published(sessions: SessionFactory, dpa: DpaText) -> bool:
    """Publish ``dpa`` (if new); False when the database cannot be reached. A version published
    with another text (``DpaVersionConflict``) is the operator's mistake and stops the start."""
    try:
        async with sessions() as db:
            await publish_dpa(db, dpa)
            await db.commit()
    except (OSError, DBAPIError) as exc:
        logger.warning("cannot publish DPA version %s yet: %s", dpa.version, exc)
        return False
    return True


async def _publish_later(sessions: SessionFactory, dpa: DpaText) -> None:
    delay = 1.0
    while not await _published(sessions, dpa):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _stop_pubsub(sio: socketio.AsyncServer) -> None:
    # python-socketio starts the Redis listener task but its shutdown() leaves it running.
    task = getattr(sio.manager, "thread", None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
        # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
        await asyncio.wait([task])
        redis = getattr(sio.manager, "redis", None)
        if redis is not None:
            await redis.aclose()


def _count_requests(metrics: Metrics) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        metrics.http_requests.labels(request.method, str(response.status)).inc()
        return response

    return count


async def openapi(request: web.Request) -> web.Response:
    """This OpenAPI 3.1 document."""
    document = request.app[API].openapi(
        title="Loket API", version=loket.__version__, router=request.app.router
    )
    return web.json_response(document)


async def widget_script(request: web.Request) -> web.StreamResponse:
    """The embeddable widget: a public script for any website (its key is checked later)."""
    path = request.app[SETTINGS].widget_dir / "widget.js"
    if not await asyncio.to_thread(path.is_file):
        return error_response(
            404,
            "widget_not_built",
            "widget.js is not built: run `make widget` (npm ci && npm run build in widget/)",
        )
    # FileResponse sends widget.js.gz, written by the build, to browsers that accept gzip.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": WIDGET_CACHE_CONTROL,
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _scraper(
    metrics: Metrics,
    *,
    sessions: SessionFactory,
    store: RealtimeStore,
    media: MediaPlacement | None,
    local_node: NodeWithUploads | None,
) -> Scraper:
    """What this node's /metrics reads when scraped (loket.observability): the queues and
    advisers, the job rows, and the media of this process, if it has any."""
    sources: list[Source] = [QueueState(store=store, sessions=sessions), JobState(sessions=sessions)]
    if local_node is not None:
        sources.append(MediaState(local_node.stats, node=local_node.node.node_id))
    elif isinstance(media, InProcessPlacement):
        sources.append(MediaState(MediaStats(media), node=socket.gethostname().split(".")[0]))
    return Scraper(metrics.registry, sources)
