"""Fixed-window rate limits kept in the realtime store, so every node counts together.

A window's count is kept at ``rate:{name}:{window}``. The store's key layout, with the names in
use, is written down in ``signaling.store.keys``; accounts sits below signaling, so the keys
it uses itself (these and ``accounts.auth``'s) are spelled here and there.
"""

from __future__ import annotations

import time

from accounts.config import RateLimit
from accounts.types import Counters
from db.errors import RateLimited


async def hit(store: Counters, name: str, limit: RateLimit) -> None:
    """Count one hit of ``name``; raise RateLimited once the window's limit is passed."""
    window = int(time.time() // limit.window_seconds)
    count = await store.incr(f"rate:{name}:{window}", ttl=limit.window_seconds)
    if count > limit.limit:
        retry_after = limit.window_seconds - int(time.time() % limit.window_seconds)
        raise RateLimited("too many requests; try again later", retry_after=max(retry_after, 1))


async def count(store: Counters, name: str, limit: RateLimit) -> int:
    """Count one hit of ``name`` without refusing it (failures that a later ``peek`` weighs)."""
    window = int(time.time() // limit.window_seconds)
    return await store.incr(f"rate:{name}:{window}", ttl=limit.window_seconds)


def seconds_left(limit: RateLimit) -> int:
    """Seconds until the current window of ``limit`` ends (a ``Retry-After``)."""
    return max(limit.window_seconds - int(time.time() % limit.window_seconds), 1)


async def peek(store: Counters, name: str, limit: RateLimit) -> bool:
    """Whether ``name`` is already over its limit in this window, without counting a hit."""
    window = int(time.time() // limit.window_seconds)
    return int(await store.get(f"rate:{name}:{window}") or 0) >= limit.limit
