"""Protocols the accounts package needs from its callers."""

from __future__ import annotations

from typing import Protocol


class Counters(Protocol):
    """Shared counters with expiry, so every node counts together (the realtime store)."""

    async def get(self, key: str) -> str | None: ...

    async def incr(self, key: str, ttl: float | None = None) -> int:
        """Increment and return; ``ttl`` is set when the key is created (fixed windows)."""
        ...


class SessionStore(Counters, Protocol):
    """The realtime store as staff sessions use it: counters, denylist entries with a
    lifetime, and a pub/sub channel every signalling node listens on."""

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def publish(self, channel: str, message: str) -> None: ...
