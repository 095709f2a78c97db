"""Starting and stopping one node's services, in order, as the app's ``cleanup_ctx``.

Start: the embedded database upgrades itself, the DPA is published (later, if the database is
down), then the realtime store, the metrics listener, the media node (calls can be placed on it
as soon as signalling takes any), the media placement, the switchboard, the staff watch and the
worker. Stop: the reverse, each step bounded (``SHUTDOWN_STEP_SECONDS``), so one that hangs is
logged by name and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import socketio
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db import SessionFactory, migrate
from loket.observability import WorkerMetrics
from loket.services import Services
from loket.settings import Settings
from loket.worker import Worker
from privacy import DpaText, publish_dpa
from signaling.redis_manager import RedisManager

logger = logging.getLogger(__name__)

# How long each step of the shutdown may take before the next one goes on without it.
SHUTDOWN_STEP_SECONDS = 10.0

Lifecycle = Callable[[web.Application], AsyncIterator[None]]


def lifecycle(settings: Settings, services: Services, *, run_worker: bool) -> Lifecycle:
    """The app's ``cleanup_ctx`` generator: start everything, yield, stop everything."""

    async def run(_app: web.Application) -> AsyncIterator[None]:
        if make_url(settings.database_url).get_backend_name() == "sqlite":
            # The embedded database upgrades itself; PostgreSQL is upgraded by the operator
            # (`loket db upgrade`) so several nodes never race on a migration.
            _ensure_sqlite_dir(settings.database_url)
            await migrate.upgrade(settings.database_url)
        # The DPA this installation asks organisations to accept (privacy.dpa). A database that
        # is down must not stop the process from starting (/readyz says so): publish it once back.
        dpa = settings.dpa()
        dpa_publishing = (
            None
            if await _published(services.sessions, dpa)
            else asyncio.create_task(_publish_later(services.sessions, dpa))
        )
        await services.store.start()
        if services.metrics_listener is not None:
            await services.metrics_listener.start()
        if services.local_node is not None:
            # The node first: calls can be placed on it as soon as signalling takes any.
            await services.local_node.start()
        if services.media is not None:
            await services.media.start()
        await services.switchboard.start()
        await services.staff_watch.start()
        worker = _worker(settings, services) if run_worker else None
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if dpa_publishing is not None:
                dpa_publishing.cancel()
            await _stop(settings, services, worker)

    return run


def _worker(settings: Settings, services: Services) -> Worker:
    return Worker(
        sessions=services.sessions,
        access_log_days=settings.access_log_days,
        storage=services.storage,
        recordings=services.recordings,
        webhooks=settings.webhooks(),
        transcription=settings.transcription(),
        config=settings.worker(),
        metrics=WorkerMetrics(services.metrics.registry),
    )


async def _stop(settings: Settings, services: Services, worker: Worker | None) -> None:
    # The worker's and the media node's own grace first (a step under way may finish), then
    # the usual bound.
    graceful = settings.worker_stop_grace_seconds + SHUTDOWN_STEP_SECONDS
    if worker is not None:
        await _bounded("worker", worker.stop(), seconds=graceful)
    await _bounded("socket.io", services.sio.shutdown())
    await _bounded("socket.io pub/sub", stop_socketio_redis(services.sio))
    await _bounded("staff watch", services.staff_watch.stop())
    await _bounded("switchboard", services.switchboard.stop())
    if services.media is not None:
        await _bounded("media", services.media.stop())
    if services.local_node is not None:
        # Last: its calls' files are finished and its uploads let go before it goes.
        await _bounded("media node", services.local_node.stop(), seconds=graceful)
    if services.metrics_listener is not None:
        await _bounded("metrics", services.metrics_listener.stop())
    await _bounded("readiness", services.readiness.stop())
    await _bounded("storage", services.storage.stop())
    await _bounded("realtime store", services.store.stop())
    await _bounded("database", services.engine.dispose())


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


async def stop_socketio_redis(sio: socketio.AsyncServer) -> None:
    """Stop the socket.io Redis manager's listener and close its Redis clients (none without Redis)."""
    if isinstance(sio.manager, RedisManager):
        await sio.manager.stop()
