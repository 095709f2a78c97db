"""The realtime store's protocol: the primitives pairing needs, in memory or in Redis.

Both backends offer the same small set of Redis-shaped operations (strings, counters,
hashes, sorted sets, capped lists, a lock with a timeout, pub/sub); all pairing logic is written once
on top of them. Values are strings; callers encode JSON themselves. Every key is spelled in
``signaling.store.keys``. ``tests/signaling/test_store.py`` runs one behaviour suite against
both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable


class LockTimeout(TimeoutError):
    """A store lock was not had within its timeout.

    Raised on entry when the lock could not be taken within ``timeout`` seconds, and on exit
    when the holder stayed past ``timeout``: the lock had expired by then (another holder may
    have taken it), so the work done under it was not exclusive after all.
    """


class LockNotTaken(LockTimeout):
    """The lock was not taken within its timeout: nothing was done under it."""


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
    async def zrank(self, key: str, member: str) -> int | None:
        """The member's 0-based place in ``zrange`` order; None when it is not in the set."""
        ...

    async def rpush_capped(self, key: str, value: str, maxlen: int, ttl: float) -> None:
        """Append, keep only the newest ``maxlen`` items, and (re)set the key's lifetime."""
        ...

    async def lrange(self, key: str) -> list[str]: ...

    async def publish(self, channel: str, message: str) -> None:
        """Deliver ``message`` to every current subscriber of ``channel``, on every node."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """Subscribe on entry (nothing published after entering is missed) and iterate the
        messages. The iteration ends with an exception when the connection is lost; the
        caller subscribes again (messages published meanwhile are not kept)."""
        ...

    def lock(self, name: str, timeout: float = 10.0) -> AbstractAsyncContextManager[None]:
        """A mutual-exclusion lock shared by every process on this store.

        ``timeout`` bounds both the wait and the hold: taking the lock gives up after
        ``timeout`` seconds, and a holder keeps it for ``timeout`` seconds at most, so a
        process that dies holding it cannot block the others for ever. Either way the
        context manager raises ``LockTimeout`` (see there).
        """
        ...
