"""The socket.io client manager that carries events between signalling nodes over Redis.

python-socketio's ``AsyncRedisManager`` has two habits this one drops:

- After a lost Redis connection it backs off 1, 2, 4, ... up to 60 s between tries to subscribe
  again; what other nodes publish meanwhile never reaches this node's connections (some 5 s of
  lost cross-node events after a 10 s outage, tests/faults/test_redis_down.py). This one tries
  again every ``RESUBSCRIBE_SECONDS``: a subscription costs Redis next to nothing.
- Each (re)connect makes a new Redis client (also when a publish comes before the listener's
  first connect) and drops the old one unclosed: its connections stay open until the garbage
  collector finds them, with a ResourceWarning at some unrelated moment. This one closes each
  replaced client after a grace (an emit may still be using it), and every client at ``stop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import socketio

from db.redis_pool import pooled_redis

RESUBSCRIBE_SECONDS = 0.5
# An emit that read the old client just before it was replaced finishes well within this.
REPLACED_CLIENT_GRACE_SECONDS = 5.0


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    redis: Any  # the client python-socketio publishes with (None until the first connect)
    pubsub: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._replaced: set[Any] = set()
        self._closing: set[asyncio.Task[None]] = set()

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

    def _redis_connect(self) -> None:  # python-socketio's own hook: the one place clients are made
        old: Any = self.redis
        if urlparse(self.redis_url).scheme.endswith("+sentinel"):
            super()._redis_connect()
        else:
            # A pool whose publishes wait for a free connection (python-socketio's from_url
            # pool fails past 100 at once, which a thousand sockets connecting reach).
            self.redis = pooled_redis(self.redis_url, **self.redis_options)
            self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            self.connected = True
        if old is not None and old is not self.redis:
            self._replaced.add(old)
            asyncio.get_running_loop().call_later(REPLACED_CLIENT_GRACE_SECONDS, self._close_later, old)

    def _close_later(self, client: Any) -> None:
        if client in self._replaced:
            self._replaced.discard(client)
            task = asyncio.get_running_loop().create_task(client.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def stop(self) -> None:
        """Stop the listener task and close every client this manager made."""
        # python-socketio starts the listener task, but its shutdown() leaves it running.
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the task's own (test_stopping.py).
            await asyncio.wait([listener])
        clients = [*self._replaced, *([self.redis] if self.redis is not None else [])]
        self._replaced.clear()
        closing = [asyncio.ensure_future(client.aclose()) for client in clients] + list(self._closing)
        if closing:
            await asyncio.wait(closing)
