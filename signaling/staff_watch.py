"""Closes staff sockets the moment their session ends, on whichever node holds them.

Each signalling node runs one ``StaffWatch``. The adviser namespace tells it of every
socket it accepts (``track``) and lets go on disconnect (``forget``). The watch closes a
socket:

- when a ``SessionCut`` arrives on the realtime store's ``staff-sessions`` channel
  (``accounts.sessions``): a deactivation, a role or password change closes every socket of
  the user, a logout those of its login. Redis pub/sub reaches every node; the memory store
  delivers within the process.
- when its access token expires: a socket is never older than the token it was opened with.
  The console has refreshed its token by then and reconnects with the new one.

The listener resubscribes with a capped backoff when the store's connection drops; a cut
published meanwhile is not seen here, which is why sockets also check each event
(``accounts.sessions.StaffSessions.still_valid``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from accounts.sessions import STAFF_CHANNEL, SessionCut
from accounts.tokens import StaffClaims
from signaling.store import RealtimeStore

logger = logging.getLogger(__name__)

Close = Callable[[str], Awaitable[None]]

MAX_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Socket:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    expires_at: float


class StaffWatch:
    """The staff sockets of this node, closed when their session ends (see the module)."""

    def __init__(self, *, store: RealtimeStore, check_seconds: float = 1.0) -> None:
        self._store = store
        self._check_seconds = check_seconds
        self._sockets: dict[str, _Socket] = {}
        self._close: Close | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    def bind(self, close: Close) -> None:
        """How to close a socket by its sid (the adviser namespace's ``disconnect``)."""
        self._close = close

    def track(self, sid: str, claims: StaffClaims) -> None:
        expires_at = float(claims.expires_at) if claims.expires_at else float("inf")
        self._sockets[sid] = _Socket(claims.user_id, claims.session_id, expires_at)

    def expire_now(self, sid: str) -> None:
        """Close ``sid`` at the next check (after the event being handled is answered)."""
        socket = self._sockets.get(sid)
        if socket is not None:
            self._sockets[sid] = _Socket(socket.user_id, socket.session_id, 0.0)

    def forget(self, sid: str) -> None:
        self._sockets.pop(sid, None)

    async def start(self) -> None:
        if self._tasks:
            return
        self._subscribed.clear()
        self._tasks = [
            asyncio.create_task(self._listen(), name="staff-watch-listen"),
            asyncio.create_task(self._expire(), name="staff-watch-expire"),
        ]
        # Started means listening: a cut published after start() returns is seen.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._subscribed.wait()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
            await asyncio.wait(tasks)

    async def apply(self, cut: SessionCut) -> int:
        """Close this node's sockets that ``cut`` names; returns how many."""
        doomed = [
            sid
            for sid, socket in self._sockets.items()
            if socket.user_id == cut.user_id
            and (cut.session_id is None or socket.session_id == cut.session_id)
        ]
        for sid in doomed:
            await self._close_one(sid)
        if doomed:
            logger.info("closed %d staff socket(s) of user %s: %s", len(doomed), cut.user_id, cut.reason)
        return len(doomed)

    async def _close_one(self, sid: str) -> None:
        self._sockets.pop(sid, None)
        if self._close is None:
            return
        try:
            await self._close(sid)
        except Exception:
            logger.exception("closing staff socket %s failed", sid)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._store.subscribe(STAFF_CHANNEL) as messages:
                    self._subscribed.set()
                    backoff = 0.1
                    async for message in messages:
                        try:
                            cut = SessionCut.decode(message)
                        except ValueError:
                            logger.warning("ignored a malformed message on %s", STAFF_CHANNEL)
                            continue
                        await self.apply(cut)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the staff-sessions subscription failed; subscribing again")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                now = time.time()
                for sid in [sid for sid, socket in self._sockets.items() if socket.expires_at <= now]:
                    await self._close_one(sid)
            except Exception:  # the loop must outlive a bug in one pass
                logger.exception("closing expired staff sockets failed")
