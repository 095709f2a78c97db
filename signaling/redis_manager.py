"""The socket.io client manager that carries events between signalling nodes over Redis.

python-socketio's ``AsyncRedisManager`` backs off after a lost Redis connection 1, 2, 4, ... up
to 60 s between tries to subscribe again; what other nodes publish meanwhile never reaches this
node's connections. After a 10 s Redis outage that was some 5 s of lost cross-node events after
Redis was back (tests/faults/test_redis_down.py). This one tries again every
``RESUBSCRIBE_SECONDS``: a subscription costs Redis next to nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import socketio

RESUBSCRIBE_SECONDS = 0.5


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                self._get_logger().error(
                    "Cannot receive from redis... retrying in %s secs",
                    RESUBSCRIBE_SECONDS,
                    extra={"redis_exception": str(exc)},
                )
                subscribed = False
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
