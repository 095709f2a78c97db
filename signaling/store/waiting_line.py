"""First come, first served among one process's takers of a store lock.

Without it, every task waiting for a held lock contends on its own: the memory store wakes
them all to race, and redis-py's lock polls on each task's own clock, so a late comer can
overtake one who has waited long, and with a queue of joins the unlucky wait for seconds.
Here a process's takers of one lock line up (an ``asyncio.Lock`` serves its waiters in
order), and only the one at the head contends for the store's lock. Across processes (several
nodes on Redis) the heads still contend as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WaitingLines:
    """One line per lock name, dropped when nobody is in it."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def head_of_line(self, name: str, timeout: float) -> AsyncIterator[float]:
        """Wait (in order) until this taker is at the head of ``name``'s line, and give the
        seconds left of ``timeout`` for taking the store's lock; ``TimeoutError`` if the
        wait took them all. The taker leaves the line once it has the lock (or gave up)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        line, count = self._lines.get(name, (asyncio.Lock(), 0))
        self._lines[name] = (line, count + 1)
        try:
            await asyncio.wait_for(line.acquire(), timeout)
            try:
                yield max(0.0, give_up - loop.time())
            finally:
                line.release()
        finally:
            line, count = self._lines[name]
            if count == 1:
                del self._lines[name]
            else:
                self._lines[name] = (line, count - 1)
