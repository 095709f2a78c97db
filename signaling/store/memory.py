"""Realtime state in this process, for the embedded single-node mode (the same behaviour as
``RedisStore``, proven by the shared suite in ``tests/signaling/test_store.py``).

Like Redis, an expired key is dropped when it is next read, and a sweep every
``sweep_seconds`` drops the ones never read again (rate-limit windows of addresses that do
not come back), so memory does not grow with every address ever seen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from signaling.store.protocol import LockNotTaken, LockTimeout
from signaling.store.waiting_line import WaitingLines

logger = logging.getLogger(__name__)


class MemoryStore:
    """In-process realtime state for the embedded single-process mode."""

    def __init__(self, *, sweep_seconds: float = 30.0) -> None:
        self._sweep_seconds = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None
        # channel -> the queues of its current subscribers.
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = {}
        self._values: dict[str, object] = {}
        self._expiry: dict[str, float] = {}
        # name -> (holder's token, when the hold expires); as in Redis, a lock is a value
        # with a lifetime, so a holder that overstays loses it.
        self._held: dict[str, tuple[object, float]] = {}
        # name -> set when the current holder releases, to wake the waiters.
        self._released: dict[str, asyncio.Event] = {}
        self._lines = WaitingLines()

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="memory-store-sweep")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
            await asyncio.wait([sweeper])

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                self.sweep()
            except Exception:  # the sweep must outlive a bug in one pass
                logger.exception("sweeping the memory store failed")

    def sweep(self) -> int:
        """Drop every expired key; returns how many."""
        now = time.monotonic()
        expired = [key for key, deadline in self._expiry.items() if deadline <= now]
        for key in expired:
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return len(expired)

    def key_count(self) -> int:
        """How many keys are held (expired ones not yet swept included)."""
        return len(self._values)

    async def ping(self) -> bool:
        return True

    def _live(self, key: str) -> object | None:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return self._values.get(key)

    def _set_ttl(self, key: str, ttl: float | None) -> None:
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = time.monotonic() + ttl

    async def get(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._values[key] = value
        self._set_ttl(key, ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)
            self._expiry.pop(key, None)

    async def expire(self, key: str, ttl: float) -> None:
        if self._live(key) is not None:
            self._set_ttl(key, ttl)

    async def incr(self, key: str, ttl: float | None = None) -> int:
        current = self._live(key)
        value = int(current) + 1 if isinstance(current, str) else 1
        self._values[key] = str(value)
        if current is None and ttl is not None:
            self._set_ttl(key, ttl)
        return value

    async def decr(self, key: str) -> int:
        current = self._live(key)
        value = int(current) - 1 if isinstance(current, str) else -1
        self._values[key] = str(value)
        return value

    def _hash(self, key: str, create: bool = False) -> dict[str, str]:
        value = self._live(key)
        if isinstance(value, dict):
            return value
        fresh: dict[str, str] = {}
        if create:
            self._values[key] = fresh
        return fresh

    async def hset(self, key: str, mapping: dict[str, str]) -> None:
        self._hash(key, create=True).update(mapping)

    async def hget(self, key: str, field: str) -> str | None:
        return self._hash(key).get(field)

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self._hash(key))

    async def hdel(self, key: str, *fields: str) -> None:
        target = self._hash(key)
        for field in fields:
            target.pop(field, None)
        if not target:
            await self.delete(key)

    def _zset(self, key: str, create: bool = False) -> dict[str, float]:
        # Sorted sets share the hash shape (member -> score) but hold floats.
        value = self._live(key)
        if isinstance(value, dict):
            return value
        fresh: dict[str, float] = {}
        if create:
            self._values[key] = fresh
        return fresh

    async def zadd(self, key: str, member: str, score: float) -> None:
        self._zset(key, create=True)[member] = score

    async def zrem(self, key: str, member: str) -> bool:
        zset = self._zset(key)
        removed = zset.pop(member, None) is not None
        if not zset:
            await self.delete(key)
        return removed

    async def zrange(self, key: str) -> list[tuple[str, float]]:
        return sorted(self._zset(key).items(), key=lambda item: (item[1], item[0]))

    async def zrangebyscore(self, key: str, max_score: float) -> list[str]:
        return [member for member, score in await self.zrange(key) if score <= max_score]

    async def zrank(self, key: str, member: str) -> int | None:
        zset = self._zset(key)
        if member not in zset:
            return None
        mine = (zset[member], member)
        return sum(1 for other in zset.items() if (other[1], other[0]) < mine)

    async def rpush_capped(self, key: str, value: str, maxlen: int, ttl: float) -> None:
        current = self._live(key)
        items: list[str] = current if isinstance(current, list) else []
        items.append(value)
        del items[:-maxlen]
        self._values[key] = items
        self._set_ttl(key, ttl)

    async def lrange(self, key: str) -> list[str]:
        current = self._live(key)
        return list(current) if isinstance(current, list) else []

    @asynccontextmanager
    async def _locked(self, name: str, timeout: float) -> AsyncIterator[None]:
        try:
            async with self._lines.head_of_line(name, timeout) as left:
                token = await self._acquire(name, timeout, time.monotonic() + left)
        except LockNotTaken:
            raise
        except TimeoutError as exc:
            raise LockNotTaken(f"lock {name!r} not taken within {timeout} s") from exc
        try:
            yield
        finally:
            self._release(name, token)

    async def _acquire(self, name: str, timeout: float, give_up: float) -> object:
        """Take ``name`` for the head of its line, once free or expired (by ``give_up``), and
        hold it for ``timeout`` seconds at most."""
        token = object()
        while True:
            now = time.monotonic()
            held = self._held.get(name)
            if held is None or held[1] <= now:
                self._held[name] = (token, now + timeout)
                return token
            if now >= give_up:
                raise LockNotTaken(f"lock {name!r} not taken within {timeout} s")
            released = self._released.setdefault(name, asyncio.Event())
            # Wake on release, when the hold expires, or when it is time to give up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(held[1], give_up) - now):
                    await released.wait()

    def _release(self, name: str, token: object) -> None:
        held = self._held.get(name)
        if held is None or held[0] is not token or held[1] <= time.monotonic():
            # Expired: possibly taken since by someone else, whose hold must stay.
            raise LockTimeout(f"lock {name!r} was held past its timeout and lost")
        del self._held[name]
        released = self._released.pop(name, None)
        if released is not None:
            released.set()

    def lock(self, name: str, timeout: float = 10.0) -> AbstractAsyncContextManager[None]:
        return self._locked(name, timeout)

    async def publish(self, channel: str, message: str) -> None:
        for queue in self._subscribers.get(channel, ()):
            queue.put_nowait(message)

    @asynccontextmanager
    async def _subscribed(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(queue)

        async def messages() -> AsyncIterator[str]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            subscribers = self._subscribers.get(channel, set())
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(channel, None)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        return self._subscribed(channel)
