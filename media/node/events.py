"""Calls whose media ended on a node, handed to signalling once (a Redis stream and a consumer group).

A node appends ``{node, call, reason}`` to the stream ``media:ended`` (capped, approximately, at
``ended_stream_length`` entries). Every signalling node reads it in the one consumer group
``signaling`` under a consumer name of its own, so each entry goes to one of them; the entry is
acknowledged when the reader asks for the next one, that is after it has acted on it. An entry
delivered to a signalling node that died before acknowledging it stays pending, and after
``ended_claim_idle_s`` another reader claims it (``XAUTOCLAIM``): an event is acted on once,
and at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from media.node import keys
from media.node._tasks import raise_if_cancelled
from media.node.config import ClusterConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

_BATCH = 16
_BLOCK_MS = 1000
_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class EndedEvent:
    """The media of ``call_id`` ended by itself on ``node_id`` (a party left, a leg failed)."""

    node_id: str
    call_id: str
    reason: str


class EndedEvents:
    """The ``media:ended`` stream: nodes publish, signalling nodes consume."""

    def __init__(self, redis: Redis, config: ClusterConfig, *, key: str, clock: Callable[[], float]) -> None:
        self._redis = redis
        self._key = key
        self._length = config.ended_stream_length
        self._claim_idle_ms = max(1, int(config.ended_claim_idle_s * 1000))
        self._claim_every_s = config.ended_claim_idle_s / 2
        self._clock = clock

    async def publish(self, event: EndedEvent) -> None:
        await self._redis.xadd(
            self._key,
            {"node": event.node_id, "call": event.call_id, "reason": event.reason},
            maxlen=self._length,
            approximate=True,
        )

    async def consume(self, consumer: str) -> AsyncIterator[EndedEvent]:
        """Every event for this consumer, for ever; each is acknowledged when the next is asked
        for. Redis going away is waited out (capped backoff), never raised."""
        from redis.exceptions import RedisError, ResponseError

        backoff = _BACKOFF_FIRST_S
        group_ready = False
        next_claim = 0.0
        while True:
            raise_if_cancelled()
            try:
                if not group_ready:
                    await self._create_group()
                    group_ready = True
                entries: list[tuple[str, dict[str, str]]] = []
                if self._clock() >= next_claim:
                    entries = await self._claim_stale(consumer)
                    if not entries:
                        next_claim = self._clock() + self._claim_every_s
                if not entries:
                    entries = await self._read_new(consumer)
                backoff = _BACKOFF_FIRST_S
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    group_ready = False  # the stream was deleted; make it again
                    continue
                logger.exception("reading ended media events failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            except (RedisError, OSError):
                logger.exception("reading ended media events failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            for entry_id, fields in entries:
                raise_if_cancelled()
                event = _event(fields)
                if event is None:
                    logger.warning("ignoring a malformed ended media event %s", entry_id)
                else:
                    yield event
                await self._ack(entry_id)

    async def _create_group(self) -> None:
        from redis.exceptions import ResponseError

        try:
            await self._redis.xgroup_create(self._key, keys.ENDED_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim_stale(self, consumer: str) -> list[tuple[str, dict[str, str]]]:
        reply = await self._redis.xautoclaim(
            self._key,
            keys.ENDED_GROUP,
            consumer,
            min_idle_time=self._claim_idle_ms,
            start_id="0-0",
            count=_BATCH,
        )
        # [next start id, [(id, fields), ...], deleted ids] (Redis 7)
        return _entries(reply[1])

    async def _read_new(self, consumer: str) -> list[tuple[str, dict[str, str]]]:
        reply = await self._redis.xreadgroup(
            keys.ENDED_GROUP, consumer, {self._key: ">"}, count=_BATCH, block=_BLOCK_MS
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3
            return [entry for stream in reply.values() for entry in _entries(stream[0])]
        return [entry for _, stream in reply for entry in _entries(stream)]

    async def _ack(self, entry_id: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.xack(self._key, keys.ENDED_GROUP, entry_id)
        except (RedisError, OSError):
            # Left pending: claimed again after ended_claim_idle_s; acting twice is harmless
            # (ending an ended call does nothing).
            logger.exception("could not acknowledge ended media event %s", entry_id)

    async def forget_consumer(self, consumer: str) -> None:
        """Remove the consumer from the group if it has nothing pending (it is stopping)."""
        from redis.exceptions import RedisError

        try:
            pending = await self._redis.xpending_range(
                self._key, keys.ENDED_GROUP, min="-", max="+", count=1, consumername=consumer
            )
            if not pending:
                await self._redis.xgroup_delconsumer(self._key, keys.ENDED_GROUP, consumer)
        except (RedisError, OSError):
            logger.debug("could not remove consumer %s from the ended-events group", consumer)


def _entries(raw: Any) -> list[tuple[str, dict[str, str]]]:
    return [(str(entry_id), dict(fields or {})) for entry_id, fields in raw or []]


def _event(fields: dict[str, str]) -> EndedEvent | None:
    node_id, call_id, reason = fields.get("node"), fields.get("call"), fields.get("reason")
    if not node_id or not call_id or not reason:
        return None
    return EndedEvent(node_id=node_id, call_id=call_id, reason=reason)
