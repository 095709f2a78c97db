"""A unit of work run again while the database cannot be reached: PostgreSQL restarting, or
failing over to a standby, takes seconds, and a chat line or a call's end written meanwhile
should wait for it rather than be lost (tests/faults/test_postgres_restart.py).

Only errors that say the connection is missing are retried (refused, reset, closed by an
administrator's shutdown, the server still starting); anything else is the caller's. The work
is run whole again, so it must be safe to repeat: give rows their ids before the first try, so
a commit whose answer was lost cannot store a row twice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)
T = TypeVar("T")

WAIT_SECONDS = 15.0
# SQLSTATE class 08 (connection exception), and 57P01-57P03: shutting down, crashed, starting up.
_UNREACHABLE = ("08", "57P01", "57P02", "57P03")


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (rather than refused the work)."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for error in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE):
            return True
    return False


async def while_unreachable(work: Callable[[], Awaitable[T]], *, seconds: float = WAIT_SECONDS) -> T:
    """``work()``, run again (backing off to 1 s) for up to ``seconds`` while the database
    cannot be reached."""
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        try:
            return await work()
        except Exception as exc:
            if not unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("the database cannot be reached (%s); trying again in %.1f s", exc, delay)
        await asyncio.sleep(delay)
        delay = min(2 * delay, 1.0)
