"""``MediaNode``: a process's media, served on the internal channel and registered in Redis.

``loket media`` runs one; so does a ``loket serve`` that relays media itself and shares Redis
with other nodes, so that every signalling node can route a call's requests to whichever
process holds its media (plain replicas never split a call).

*Start.* The node's calls are an ``InProcessPlacement`` spooling under ``NodeConfig.spool_dir``.
:meth:`MediaNode.start` starts the internal server, then registers (first heartbeat) before it
returns, so a started node can be placed on at once.

*Heartbeat.* Every ``heartbeat_interval_s`` the node announces its id, internal URL, calls and
recent CPU load, and renews the placement of the calls it holds. A call it holds that is no
longer placed on it (closed, or placed elsewhere while this node was unreachable) is closed
here. A failed heartbeat is logged and tried again at the next beat; if Redis stays away
longer than ``node_ttl_s`` the node counts as dead to the others.

*Ended.* A call whose media ended by itself here (a party left, a leg failed) is published on
the ended stream (``media.node.events``), retried with a capped backoff until Redis takes it.

*Stop* (idempotent): withdraw from the registry (no new calls come), stop serving, close every
call, let go of Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from media.config import MediaConfig
from media.node import wire
from media.node._tasks import raise_if_cancelled
from media.node.config import ClusterConfig, NodeConfig
from media.node.events import EndedEvent
from media.node.load import CpuLoad
from media.node.registry import NodeInfo, Registry
from media.node.server import NodeServer
from media.placement import InProcessPlacement

logger = logging.getLogger(__name__)

_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 5.0


class MediaNode:
    """One media node. ``placement`` holds its calls; the shell may also use it directly."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        cluster: ClusterConfig,
        media: MediaConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._cluster = cluster
        self._clock = clock
        self.placement = InProcessPlacement(media, spool_dir=config.spool_dir)
        self._registry = Registry(cluster, clock=clock)
        self._server = NodeServer(
            config=config, cluster=cluster, media=self.placement, registry=self._registry, status=self._status
        )
        self._load = CpuLoad()
        self._recent_load = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def registry(self) -> Registry:
        """The node's registry client (started and stopped with the node)."""
        return self._registry

    @property
    def url(self) -> str:
        """The internal URL signalling nodes reach this node at (known once started)."""
        return self._server.url

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self._registry.start()
        await self.placement.start()
        await self._server.start()
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._heartbeat_forever(), name=f"media-node-{self.node_id}-heartbeat"),
            asyncio.create_task(self._publish_ended_forever(), name=f"media-node-{self.node_id}-ended"),
        ]

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
            await asyncio.wait(tasks)
        if self._started:
            try:
                await self._registry.withdraw(self.node_id)
            except Exception:
                # Its registration runs out within node_ttl_s anyway.
                logger.exception("media node %s could not withdraw from the registry", self.node_id)
            await self._server.stop()
            await self.placement.stop()
        await self._registry.stop()

    def info(self) -> NodeInfo:
        return NodeInfo(
            node_id=self.node_id,
            url=self.url,
            calls=self.placement.active_calls(),
            load=self._recent_load,
            heartbeat_at=self._clock(),
        )

    def _status(self) -> wire.NodeStatus:
        info = self.info()
        return wire.NodeStatus(node_id=info.node_id, calls=info.calls, load=info.load)

    async def _beat(self) -> None:
        self._recent_load = self._load.sample()
        lost = await self._registry.heartbeat(self.info(), self.placement.call_ids())
        for call_id in lost:
            logger.warning(
                "media node %s: call %s is no longer placed here; closing it", self.node_id, call_id
            )
            await self.placement.close_call(call_id)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._cluster.heartbeat_interval_s)
            raise_if_cancelled()
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("media node %s: heartbeat failed", self.node_id)

    async def _publish_ended_forever(self) -> None:
        async for call_id, reason in self.placement.ended():
            raise_if_cancelled()
            event = EndedEvent(node_id=self.node_id, call_id=call_id, reason=reason)
            backoff = _BACKOFF_FIRST_S
            while True:
                raise_if_cancelled()
                try:
                    await self._registry.ended.publish(event)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "media node %s: could not publish the end of call %s", self.node_id, call_id
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
