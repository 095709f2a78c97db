"""The long-lived objects of one signalling node, built from the settings and wired together.

Nothing here connects: ``build_services`` only constructs (``loket.lifecycle`` starts and stops
them in order), so an app can be built, inspected and thrown away without any service running.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import socketio
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.addresses import Forwarding
from accounts.auth import StaffAuth
from accounts.config import AuthConfig
from accounts.sessions import StaffSessions
from accounts.tokens import TokenService
from accounts.two_factor import TwoFactor
from api.middlewares import parse_networks
from db import SessionFactory, create_engine, create_session_factory
from loket.media_node import NodeWithUploads
from loket.metrics_server import MetricsServer, Scraper, metrics_server
from loket.observability import JobState, MediaState, QueueState, Source
from loket.readiness import Readiness
from loket.settings import Settings, SettingsError
from media.metrics import RtpDropsCollector
from media.placement import InProcessPlacement, MediaPlacement
from media.remote import RemotePlacement
from media.stats import MediaStats
from recordings import RecordingsConfig, Storage, storage_from_config
from signaling.attachments import Attachments
from signaling.chat import Chat
from signaling.config import SignalingConfig
from signaling.guarded_packet import GuardedPacket
from signaling.metrics import Metrics
from signaling.outbox import LOG_KEY_PURPOSE, Outbox
from signaling.recording import RecordingControl
from signaling.redis_manager import RedisManager
from signaling.sockets import AdviserNamespace, VisitorNamespace
from signaling.staff_watch import StaffWatch
from signaling.store import MemoryStore, RealtimeStore, RedisStore
from signaling.switchboard import Switchboard

# The transport's own hard ceiling; the per-event limit (64 KiB) is checked in the handler,
# so a client over it gets an error ack instead of a dropped connection.
TRANSPORT_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Services:
    """Everything one node runs, built once per app."""

    config: SignalingConfig
    engine: AsyncEngine
    sessions: SessionFactory
    store: RealtimeStore
    tokens: TokenService
    metrics: Metrics
    sio: socketio.AsyncServer
    recordings: RecordingsConfig
    storage: Storage
    media: MediaPlacement | None
    local_node: NodeWithUploads | None
    switchboard: Switchboard
    forwarding: Forwarding
    staff_sessions: StaffSessions
    staff_watch: StaffWatch
    two_factor: TwoFactor
    auth: StaffAuth
    attachments: Attachments
    readiness: Readiness
    metrics_listener: MetricsServer | None


def build_services(settings: Settings, *, run_media: bool) -> Services:
    """Build and wire the node's services; the socket.io namespaces are registered on ``sio``."""
    config = settings.signaling()
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine, keys=settings.installation_keys())
    store: RealtimeStore = (
        RedisStore(settings.redis_url, prefix=settings.redis_prefix) if settings.redis_url else MemoryStore()
    )
    tokens = TokenService(
        secret_key=config.secret_key,
        issuer=config.issuer,
        access_seconds=config.access_token_seconds,
        visitor_seconds=config.visitor_token_seconds,
    )
    metrics = Metrics()
    metrics.registry.register(RtpDropsCollector())  # the relay's dropped packets, by reason
    sio = _socketio_server(settings)

    async def emit(event: str, data: dict[str, Any], room: str, namespace: str) -> None:
        await sio.emit(event, data, room=room, namespace=namespace)

    # The resume log keeps a visitor's privacy key only sealed (signaling.outbox).
    outbox = Outbox(
        store,
        emit,
        log_seconds=config.resume_window_seconds,
        log_key=settings.installation_keys().current(LOG_KEY_PURPOSE),
    )
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
    forwarding = Forwarding(parse_networks(config.trusted_proxies), config.forwarded_header)
    staff_sessions = StaffSessions(sessions=sessions, store=store, access_seconds=config.access_token_seconds)
    staff_watch = StaffWatch(store=store)
    namespace_args: dict[str, Any] = {
        "switchboard": switchboard,
        "chat": chat,
        "outbox": outbox,
        "tokens": tokens,
        "metrics": metrics,
        "max_payload_bytes": config.max_payload_bytes,
        "forwarding": forwarding,
    }
    sio.register_namespace(VisitorNamespace(**namespace_args))
    sio.register_namespace(
        AdviserNamespace(**namespace_args, staff_sessions=staff_sessions, staff_watch=staff_watch)
    )
    two_factor = TwoFactor(master_key=settings.resolved_master_key(), store=store)
    auth = StaffAuth(
        sessions=sessions,
        store=store,
        tokens=tokens,
        config=AuthConfig(
            login_per_ip=config.login_per_ip,
            login_failures_per_account=config.login_failures_per_account,
            refresh_token_seconds=config.refresh_token_seconds,
        ),
        two_factor=two_factor,
        staff_sessions=staff_sessions,
    )
    attachments = Attachments(
        calls=switchboard,
        outbox=outbox,
        sessions=sessions,
        master_key=recordings.master_key,
        master_keys=(recordings.master_key, *recordings.retired_master_keys),
    )
    readiness = Readiness(
        sessions=sessions,
        store=store,
        storage=storage,
        media_cluster=settings.cluster() if settings.redis_url else None,
    )
    scraper = _scraper(metrics, sessions=sessions, store=store, media=media, local_node=local_node)
    return Services(
        config=config,
        engine=engine,
        sessions=sessions,
        store=store,
        tokens=tokens,
        metrics=metrics,
        sio=sio,
        recordings=recordings,
        storage=storage,
        media=media,
        local_node=local_node,
        switchboard=switchboard,
        forwarding=forwarding,
        staff_sessions=staff_sessions,
        staff_watch=staff_watch,
        two_factor=two_factor,
        auth=auth,
        attachments=attachments,
        readiness=readiness,
        metrics_listener=metrics_server(settings, scraper),
    )


def _socketio_server(settings: Settings) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=(
            RedisManager(settings.redis_url, channel=f"{settings.redis_prefix}socketio")
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
