"""``db.jobs.lease_kept``: the renewal task stops with the work it guards, and a stop of
that work (Worker.stop on SIGTERM cancels it) is never swallowed on the way out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest

from db import SessionFactory, lease_kept, utcnow
from recordings import Recording


class _WindingDownSession:
    """A session whose renewal UPDATE hangs, and whose close, once cancelled, takes a while
    (like returning a connection to its pool)."""

    def __init__(self, updating: asyncio.Event, closing: asyncio.Event) -> None:
        self._updating = updating
        self._closing = closing

    async def __aenter__(self) -> _WindingDownSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await asyncio.Event().wait()  # until cancelled again

    async def execute(self, statement: Any) -> Any:
        self._updating.set()
        await asyncio.Event().wait()

    async def commit(self) -> None:
        pass


async def test_a_stop_arriving_while_the_renewal_winds_down_is_not_swallowed() -> None:
    updating, closing = asyncio.Event(), asyncio.Event()
    sessions = cast(SessionFactory, lambda: _WindingDownSession(updating, closing))
    went_on = False

    async def work() -> None:
        nonlocal went_on
        async with lease_kept(sessions, Recording, uuid.uuid4(), "w", lease_seconds=0.03, clock=utcnow):
            await updating.wait()  # the work ends while a renewal is under way
        went_on = True

    task = asyncio.create_task(work())
    async with asyncio.timeout(5):
        await closing.wait()  # the work is done; lease_kept waits for the renewal to wind down
    task.cancel()  # and now the worker is stopped
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on, "the stop was swallowed: the worker would go on to its next job"
