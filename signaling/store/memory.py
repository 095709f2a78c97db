"""Realtime state: the primitives pairing needs, in memory or in Redis.

Both backends offer the same small set of Redis-shaped operations (strings, counters,
hashes, sorted sets, capped lists, a lock); all pairing logic is written once on top of
them (``signaling.pairing``). Values are strings; callers encode JSON themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class RealtimeStore(Protocol):
    """What every realtime backend provides. Keys are namespaced by the implementation."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> bool: ...

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def expire(self, key: str, ttl: float) -> None: ...
    async def incr(self, key: str, ttl: float | None = None) -> int:
        """Increment and return; ``ttl`` is set when the key is created (fixed windows)."""
        ...

    async def decr(self, key: str) -> int: ...

    async def hset(self, key: str, mapping: dict[str, str]) -> None: ...
    async def hget(self, key: str, field: str) -> str | None: ...
    async def hgetall(self, key: str) -> dict[str, str]: ...
    async def hdel(self, key: str, *fields: str) -> None: ...

    async def zadd(self, key: str, member: str, score: float) -> None: ...
    async def zrem(self, key: str, member: str) -> bool: ...
    async def zrange(self, key: str) -> list[tuple[str, float]]:
        """All members, lowest score first (ties by member)."""
        ...

    async def zrangebyscore(self, key: str, max_score: float) -> list[str]: ...

    async def rpush_capped(self, key: str, value: str, maxlen: int, ttl: float) -> None:
        """Append, keep only the newest ``maxlen`` items, and (re)set the key's lifetime."""
        ...

    async def lrange(self, key: str) -> list[str]: ...

    def lock(self, name: str, timeout: float = 10.0) -> AbstractAsyncContextManager[None]:
        """A mutual-exclusion lock shared by every process on this store."""
        ...


class MemoryStore:
    """In-process realtime state for the embedded single-process mode."""

    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._expiry: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

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
    async def _locked(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    def lock(self, name: str, timeout: float = 10.0) -> AbstractAsyncContextManager[None]:
        return self._locked(name)
