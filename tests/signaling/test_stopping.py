"""A stop bounded by the shell's shutdown step ends at its bound, even when a task it cancels
does not end (redis-py's loops can lose a cancellation on Python 3.11: gh-86296).

``with suppress(CancelledError): await task`` swallowed the bound's own cancellation along with
the task's: the step then ran past its bound with no log line, or for ever (the teardown hang
of issue 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from signaling.store import MemoryStore
from tests.conftest import Backend
from tests.signaling.nodes import cluster

STUBBORN_SECONDS = 5.0


async def swallows_cancellation() -> None:
    """A task that ignores being cancelled for a while, as a lost cancellation does."""
    deadline = time.monotonic() + STUBBORN_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(deadline - time.monotonic())


async def bounded(stopping: asyncio.Task[None] | asyncio.Future[None], stubborn: asyncio.Task[None]) -> None:
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await stopping
    assert time.monotonic() - began < 2.0, "the bound held"
    await asyncio.wait([stubborn])


async def test_a_switchboard_stop_ends_at_its_bound(backend: Backend) -> None:
    async with cluster(backend) as made:
        node = made.node("a")
        await node.start()
        stubborn = asyncio.create_task(swallows_cancellation())
        node._tasks.append(stubborn)
        await bounded(asyncio.ensure_future(node.stop()), stubborn)


async def test_a_memory_store_stop_ends_at_its_bound() -> None:
    store = MemoryStore()
    await store.start()
    stubborn = asyncio.create_task(swallows_cancellation())
    store._sweeper, real = stubborn, store._sweeper
    await bounded(asyncio.ensure_future(store.stop()), stubborn)
    assert real is not None
    real.cancel()
    await asyncio.wait([real])
