"""``RemotePlacement``: a call's media on a media node, the same one for every signalling node.

*Placing.* The first request for a call (an offer, a candidate, a recording) places it on the
least-loaded live node (``media.node.registry.least_loaded``) with ``SET NX`` in Redis, so two
signalling nodes placing one call at once agree on the winner; :meth:`RemotePlacement.place`
does it ahead of time (when the call is accepted). Every later request for the call, from any
signalling node, goes to that node over the signed internal channel (``media.node.wire``).

*Closing.* :meth:`close_call` closes the media on its node and leaves a tombstone, so a late
offer is refused (``LegClosedError``), as in process, rather than placed afresh. Stopping a
``RemotePlacement`` closes no call: the calls live on their nodes, and other signalling nodes
still serve them.

*Ended.* Calls whose media ended by itself on a node come back through the ended stream
(``media.node.events``): each event goes to one signalling node, and once it has been acted
on the call is marked closed; an event about a call that is closed already (through
:meth:`close_call`, or by an earlier delivery of the same event) or has moved to another node
is dropped.

*Failover.* Each ``RemotePlacement`` runs a watcher (a task it starts and stops) that every
``failover_interval_s`` looks for nodes listed in the registry whose registration has expired
but that still hold calls (a node SIGKILLed, or cut off); after Redis was away (when every
registration may have run out with the nodes alive) not until it has seen Redis answer for
``node_ttl_s``. One signalling node claims each dead
node (``SET NX`` on ``media:failover:{node}``) and moves each of its calls to the least-loaded
live node (compare and set on the call's mapping), then publishes ``MEDIA_NODE_LOST`` for it on
the ended stream, so one signalling node tells both parties to offer again. With no live node
left the call is published as ``MEDIA_UNAVAILABLE`` instead, and signalling ends it.

*Local node.* With ``local`` (a ``loket serve`` that also relays media and registers it), the
calls placed on this process's own node are served directly, without a request to itself.

Spool keys, not paths, name recordings (``media.spool``): the files are written under the
node's spool directory, on the node's disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel

from media.errors import CallOnOtherNode, LegClosedError, MediaError, MediaUnavailable, UnknownCall
from media.node import keys, wire
from media.node._tasks import raise_if_cancelled
from media.node.client import NodeClient
from media.node.config import ClusterConfig, valid_id
from media.node.events import EndedEvent
from media.node.node import MediaNode
from media.node.registry import NodeInfo, Registry, least_loaded
from media.placement import MEDIA_NODE_LOST, MEDIA_UNAVAILABLE
from media.recorder import RecordingResult
from media.spool import check_spool_key
from media.types import Party

logger = logging.getLogger(__name__)


class _BadCallId(MediaError):
    code = "invalid_input"
    status = 400


class RemotePlacement:
    """Places calls on media nodes and routes each call's requests to its node."""

    def __init__(
        self,
        cluster: ClusterConfig,
        *,
        local: MediaNode | None = None,
        consumer: str | None = None,
        failover_interval_s: float = 0.5,
    ) -> None:
        self._cluster = cluster
        self._local = local
        self._registry = Registry(cluster)
        self._client = NodeClient(cluster)
        # This signalling process's name in the ended-events group; unique per process, so
        # what a dead process left unacknowledged is claimed by another.
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._stopped = False
        self._failover_interval_s = failover_interval_s
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._registry.start()
        await self._client.start()
        self._watcher = asyncio.create_task(self._watch_failover(), name="media-failover")

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._watcher is not None:
            self._watcher.cancel()
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
            await asyncio.wait([self._watcher])
            self._watcher = None
        await self._client.stop()
        await self._registry.ended.forget_consumer(self._consumer)
        await self._registry.stop()

    # -- placement ---------------------------------------------------------------------------

    async def place(self, call_id: str) -> str:
        """The id of the call's node, placing the call on the least-loaded live node first if
        it has none. ``MediaUnavailable`` when no node is alive, ``LegClosedError`` once closed."""
        _check_call_id(call_id)
        with _registry_errors():
            owner = await self._registry.owner(call_id)
            if owner is None:
                nodes = await self._registry.nodes()
                if not nodes:
                    raise MediaUnavailable("no media server is available right now; try again in a moment")
                chosen = least_loaded(nodes)
                owner = await self._registry.place(call_id, chosen.node_id)
                if owner == chosen.node_id:
                    logger.info("call %s placed on media node %s", call_id, owner)
        if owner == keys.CLOSED:
            raise LegClosedError("this call's media is closed")
        return owner

    async def node_of(self, call_id: str) -> str | None:
        """The id of the call's node; ``None`` when it is not placed (or closed)."""
        _check_call_id(call_id)
        with _registry_errors():
            owner = await self._registry.owner(call_id)
        return None if owner in (None, keys.CLOSED) else owner

    async def _node(self, node_id: str) -> NodeInfo:
        with _registry_errors():
            node = await self._registry.node(node_id)
        if node is None:
            raise MediaUnavailable("the call's media node is gone")
        return node

    def _on_local(self, node_id: str) -> bool:
        return self._local is not None and node_id == self._local.node_id

    # -- MediaPlacement ----------------------------------------------------------------------

    async def answer(self, call_id: str, party: Party, sdp: str, sdp_type: str) -> tuple[str, str]:
        node_id = await self.place(call_id)
        if self._on_local(node_id):
            assert self._local is not None
            return await self._local.placement.answer(call_id, party, sdp, sdp_type)
        reply = await self._send(
            node_id,
            "POST",
            wire.leg_path(call_id, party, "answer"),
            wire.Offer(sdp=sdp, type=sdp_type),
            wire.Answer,
        )
        return reply.sdp, reply.type

    async def add_candidate(
        self,
        call_id: str,
        party: Party,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> bool:
        node_id = await self.place(call_id)
        if self._on_local(node_id):
            assert self._local is not None
            return await self._local.placement.add_candidate(
                call_id, party, candidate, sdp_mid, sdp_mline_index
            )
        body = wire.Candidate(candidate=candidate, sdp_mid=sdp_mid, sdp_mline_index=sdp_mline_index)
        reply = await self._send(
            node_id, "POST", wire.leg_path(call_id, party, "candidates"), body, wire.CandidateUsed
        )
        return reply.used

    async def start_recording(self, call_id: str, paths: Mapping[Party, Path]) -> None:
        files = {party: check_spool_key(path).as_posix() for party, path in paths.items()}
        node_id = await self.place(call_id)
        if self._on_local(node_id):
            assert self._local is not None
            await self._local.placement.start_recording(call_id, {p: Path(key) for p, key in files.items()})
            return
        path = wire.call_path(call_id) + "/recording"
        await self._send(node_id, "PUT", path, wire.RecordingStart(files=files), wire.RecordingStarted)

    async def stop_recording(self, call_id: str) -> dict[Party, RecordingResult]:
        node_id = await self.node_of(call_id)
        if node_id is None:
            return {}
        if self._on_local(node_id):
            assert self._local is not None
            return await self._local.placement.stop_recording(call_id)
        path = wire.call_path(call_id) + "/recording"
        reply = await self._send(node_id, "DELETE", path, None, wire.RecordingStopped)
        return {party: recorded.result() for party, recorded in reply.results.items()}

    async def release_leg(self, call_id: str, party: Party) -> None:
        node_id = await self.node_of(call_id)
        if node_id is None:
            return
        if self._on_local(node_id):
            assert self._local is not None
            await self._local.placement.release_leg(call_id, party)
            return
        node = await self._node(node_id)
        await self._client.send_raw(node, "DELETE", wire.party_path(call_id, party), None)

    async def close_call(self, call_id: str) -> None:
        if not valid_id(call_id):
            return  # never placed: nothing to close
        node_id = await self.node_of(call_id)
        if node_id is None:
            return
        try:
            if self._on_local(node_id):
                assert self._local is not None
                await self._local.placement.close_call(call_id)
            else:
                node = await self._node(node_id)
                await self._client.send_raw(node, "DELETE", wire.call_path(call_id), None)
        except (UnknownCall, CallOnOtherNode):
            pass  # closed or moved meanwhile
        except MediaError as exc:
            # The node is gone or failed: the tombstone still keeps the call from being placed
            # again, and the node's heartbeat closes the call there if it is still running.
            logger.warning("call %s: closing its media on node %s failed (%s)", call_id, node_id, exc.code)
        try:
            await self._registry.release(call_id, node_id)
        except Exception:
            # Without the tombstone the placement runs out (call_ttl_s) once the node has let
            # go of the call; a late request in between reaches a closed call and is refused.
            logger.exception("call %s: could not mark its media closed", call_id)

    async def ended(self) -> AsyncIterator[tuple[str, str]]:
        async for event in self._registry.ended.consume(self._consumer):
            raise_if_cancelled()
            try:
                owner = await self._registry.owner(event.call_id)
            except Exception:
                # Acting on an event twice is harmless (ending an ended call does nothing);
                # dropping one is not.
                logger.exception("could not look up call %s; acting on its end anyway", event.call_id)
                owner = None
            if owner is not None and owner != event.node_id:
                # Closed through close_call meanwhile (or by whoever acted on this event
                # before), or placed elsewhere since: nothing left to act on.
                continue
            yield event.call_id, event.reason
            if event.reason == MEDIA_NODE_LOST:
                continue  # moved, not ended: the call goes on on its new node
            # Acted on: a late request is refused from now on. Not before the yield: a
            # signalling node that dies before acting leaves the event to another.
            try:
                await self._registry.release(event.call_id, event.node_id)
            except Exception:
                logger.exception("could not mark call %s closed; its placement runs out", event.call_id)

    # -- failover ----------------------------------------------------------------------------

    async def _watch_failover(self) -> None:
        """Move the calls of dead nodes, for as long as this placement runs.

        A registration that ran out says a node's heart stopped only if Redis was there to
        receive its beats: after Redis was away every node's registration may have run out
        meanwhile, so after a failed check the watcher first sees Redis answer for
        ``node_ttl_s``, time for each live node to register again, before it fails one over."""
        loop = asyncio.get_running_loop()
        seeing_since = float("-inf")
        while True:
            raise_if_cancelled()  # gh-86296: see media.node._tasks
            try:
                if loop.time() - seeing_since >= self._cluster.node_ttl_s:
                    await self.fail_over()
                else:
                    await self._registry.dead_nodes_with_calls()  # Redis answers?
            except asyncio.CancelledError:
                raise
            except Exception:
                seeing_since = loop.time()
                logger.exception("media failover check failed; trying again")
            await asyncio.sleep(self._failover_interval_s)

    async def fail_over(self) -> list[tuple[str, str]]:
        """One pass: move the calls of each dead node this process claims. Returns
        ``(call_id, reason)`` for each call published (``MEDIA_NODE_LOST`` or
        ``MEDIA_UNAVAILABLE``)."""
        published: list[tuple[str, str]] = []
        for dead in await self._registry.dead_nodes_with_calls():
            raise_if_cancelled()
            if not await self._registry.claim_failover(dead):
                continue  # another signalling node has it
            logger.warning("media node %s is gone; moving its calls", dead)
            for call_id in await self._registry.calls_of(dead):
                raise_if_cancelled()
                nodes = await self._registry.nodes()
                if nodes:
                    target = least_loaded(nodes)
                    if not await self._registry.move(call_id, dead, target.node_id):
                        continue  # closed or moved meanwhile
                    logger.warning("call %s moved from dead node %s to %s", call_id, dead, target.node_id)
                    event = EndedEvent(node_id=target.node_id, call_id=call_id, reason=MEDIA_NODE_LOST)
                else:
                    if not await self._registry.drop(call_id, dead):
                        continue
                    logger.warning("call %s lost its media node %s and no node is left", call_id, dead)
                    event = EndedEvent(node_id=dead, call_id=call_id, reason=MEDIA_UNAVAILABLE)
                await self._registry.ended.publish(event)
                published.append((call_id, event.reason))
            await self._registry.release_failover(dead)
        return published

    # -- the channel -------------------------------------------------------------------------

    async def _send(
        self,
        node_id: str,
        method: str,
        path: str,
        body: BaseModel | None,
        reply: type[wire.ReplyT],
    ) -> wire.ReplyT:
        node = await self._node(node_id)
        try:
            return await self._client.send(node, method, path, body, reply)
        except (UnknownCall, CallOnOtherNode) as exc:
            # The mapping changed between our look-up and the node's: not the caller's fault.
            raise MediaUnavailable("the call's media moved; try again") from exc


def _check_call_id(call_id: str) -> None:
    if not valid_id(call_id):
        raise _BadCallId("a call id is 1-64 letters, digits, '.', '_' or '-'")


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    """Redis unreachable: the media is, as far as the caller can tell."""
    from redis.exceptions import RedisError

    try:
        yield
    except (RedisError, OSError) as exc:
        raise MediaUnavailable("the media registry cannot be reached") from exc
