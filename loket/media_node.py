"""A media node as the shell runs it: the node (``media.node.MediaNode``) and its own upload loop.

A node spools recordings on its own disk, so it stores them itself: one job
(``loket.worker.Job``) runs ``retry_pending_uploads`` for the rows whose ``spool_node`` is this
node's id, every ``LOKET_UPLOADS_EVERY_SECONDS``, under the same leases, checksums and backoff
as the worker's uploads. The node id stays the same across restarts, so a node killed
mid-upload stores what its spool still holds when it starts again (the row's lease runs out,
the encrypted file is re-used or made again, the stored object's checksum is verified).

Order: the node starts first (calls can be placed on it at once) and its uploads after;
stopping, the uploads stop first (a run under way may finish within the worker's stop grace)
and the node last, after which no file of it is being written.

``loket media`` runs one alone (:func:`run_media_node`, until SIGTERM or SIGINT); ``loket
serve`` with Redis runs one beside signalling (``loket.app``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal

from prometheus_client import CollectorRegistry

from db import SessionFactory, create_engine, create_session_factory
from loket.metrics_server import Scraper, metrics_server
from loket.observability import MediaState, WorkerMetrics
from loket.settings import Settings, SettingsError
from loket.spool_adoption import adopt_dead_nodes_spools
from loket.worker import Job, JobContext, JobRunner
from media.metrics import RtpDropsCollector
from media.node import MediaNode, Registry
from media.stats import MediaStats
from recordings import RecordingsConfig, Storage, retry_pending_uploads, storage_from_config
from webhooks import enqueue_event

logger = logging.getLogger(__name__)


class NodeWithUploads:
    """A ``MediaNode`` and the job that uploads its spool; ``start()`` then ``stop()``."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: SessionFactory,
        storage: Storage,
        recordings: RecordingsConfig,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._cluster = settings.cluster()
        self.node = MediaNode(config=settings.media_node(), cluster=self._cluster, media=settings.media())
        # What its calls count, for /metrics (loket.observability.MediaState).
        self.stats = MediaStats(self.node.placement)
        node_id = self.node.node_id
        worker = settings.worker()
        # The node stores what it spools: from its own spool directory (a shared spool's or not).
        recordings = dataclasses.replace(recordings, spool_dir=self.node.config.spool_dir)

        async def uploads(ctx: JobContext) -> int:
            return await retry_pending_uploads(
                sessions,
                storage,
                recordings,
                ctx.clock(),
                worker_id=ctx.worker_id,
                on_stored=enqueue_event,
                spool_node=node_id,
            )

        jobs = [Job(f"media node {node_id} uploads", worker.uploads.every, worker.uploads.timeout, uploads)]
        shared_spool = settings.media_shared_spool
        if shared_spool is not None:

            async def adopt(ctx: JobContext) -> int:
                return await adopt_dead_nodes_spools(
                    sessions,
                    storage,
                    recordings,
                    self.node.registry,
                    shared_spool=shared_spool,
                    own_id=node_id,
                    now=ctx.clock(),
                    worker_id=ctx.worker_id,
                )

            name = f"media node {node_id} adopts dead nodes' spools"
            jobs.append(Job(name, worker.uploads.every, worker.uploads.timeout, adopt))
        self._uploads = JobRunner(
            jobs,
            context=JobContext(),
            stop_grace_seconds=worker.stop_grace_seconds,
            retry_base_seconds=worker.retry_base_seconds,
            retry_max_seconds=worker.retry_max_seconds,
            metrics=metrics,
        )

    async def start(self) -> None:
        await self._refuse_a_twin()
        await self.node.start()
        await self._uploads.start()

    async def _refuse_a_twin(self) -> None:
        """Two live processes under one node id would take each other's calls and spool: wait
        out a registration left by this node's previous life (killed: gone within its
        lifetime), and refuse to start beside a live twin (two `loket serve` on one host)."""
        registry = Registry(self._cluster)
        try:
            await registry.start()
            deadline = asyncio.get_running_loop().time() + self._cluster.node_ttl_s + 1.0
            while (twin := await registry.node(self.node.node_id)) is not None:
                if asyncio.get_running_loop().time() > deadline:
                    raise SettingsError(
                        f"media node {self.node.node_id!r} is already running at {twin.url}: give each "
                        "process its own LOKET_MEDIA_NODE_ID"
                    )
                await asyncio.sleep(0.5)
        finally:
            await registry.stop()

    async def stop(self) -> None:
        """Idempotent."""
        try:
            await self._uploads.stop()
        finally:
            await self.node.stop()


async def run_media_node(settings: Settings) -> None:
    """``loket media``: run one node until SIGTERM or SIGINT, then stop it cleanly (it withdraws
    from the registry at once, closes its calls and finishes their files)."""
    engine = create_engine(settings.database_url)
    recordings = settings.recordings()
    storage = storage_from_config(recordings)
    registry = CollectorRegistry()
    node = NodeWithUploads(
        settings=settings,
        sessions=create_session_factory(engine, keys=settings.installation_keys()),
        storage=storage,
        recordings=recordings,
        metrics=WorkerMetrics(registry),
    )
    registry.register(RtpDropsCollector())  # the relay's dropped packets, by reason
    metrics = metrics_server(settings, Scraper(registry, [MediaState(node.stats, node=node.node.node_id)]))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        if metrics is not None:
            await metrics.start()
        await node.start()
        # The last line a supervisor (or a test) waits for.
        print(f"media node {node.node.node_id} ready at {node.node.url}", flush=True)
        await stopping.wait()
    finally:
        await node.stop()
        if metrics is not None:
            await metrics.stop()
        await storage.stop()
        await engine.dispose()
        logger.info("media node stopped")
