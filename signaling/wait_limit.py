"""The maximum wait: a visitor who waited longer than their queue allows is told when to try
again and taken out of the queue.

A queue may set ``max_wait_seconds``. Joining such a queue puts the call in
``keys.WAIT_DEADLINES`` with its deadline (join time + the limit); leaving the queue (accepted,
abandoned) takes it out again (``signaling.queue``). Every node ticks, and the node whose
removal of a due entry succeeds handles it, under the organisation's lock:

- a call still *waiting* ends, abandoned, with reason ``max_wait``; the visitor's ``call:ended``
  carries ``retry_at`` (ISO 8601, UTC, or null), from ``accounts.hours.retry_at``: the next
  opening when the queue has closed meanwhile, else the start of its next opening period after
  the current one, computed from the opening hours and closing days in the queue's time zone;
- a call being *rung* is not taken from the adviser's screen mid-ring: its entry comes back for
  the ring's deadline, and a missed ring lets the next tick end it;
- an answered or ended call is simply dropped from the set.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from accounts import hours
from accounts import queries as account_queries
from db import SessionFactory
from signaling.ending import Ending
from signaling.live import LiveState, Mail
from signaling.models import CallStatus
from signaling.ringing import Ringing
from signaling.state import CallState
from signaling.store import keys

logger = logging.getLogger(__name__)

MAX_WAIT = "max_wait"


class WaitLimit:
    """Registers waiting calls' deadlines and ends the calls that outwait them."""

    def __init__(
        self, *, live: LiveState, ending: Ending, ringing: Ringing, sessions: SessionFactory
    ) -> None:
        self._live = live
        self._store = live.store
        self._ending = ending
        self._ringing = ringing
        self._sessions = sessions

    async def watch(self, call: CallState, max_wait_seconds: int | None) -> None:
        """Note a call that just joined a queue with a maximum wait (none: nothing to note)."""
        if max_wait_seconds:
            member = keys.org_member(call.org_id, call.id)
            await self._store.zadd(keys.WAIT_DEADLINES, member, call.joined_at + max_wait_seconds)

    async def expire(self, now: float) -> None:
        """End the calls whose maximum wait ran out by ``now``."""
        for member in await self._store.zrangebyscore(keys.WAIT_DEADLINES, now):
            if not await self._store.zrem(keys.WAIT_DEADLINES, member):
                continue  # another node took it
            org_id, call_id = keys.split_org_member(member)
            mail: Mail = []
            try:
                async with self._live.locked(org_id):
                    call = await self._live.call(call_id)
                    if call is None or call.status == CallStatus.ACTIVE:
                        continue
                    if call.status == CallStatus.RINGING:
                        await self._store.zadd(keys.WAIT_DEADLINES, member, max(call.ring_deadline, now))
                        continue
                    retry = await self._retry_at(call, now)
                    await self._ending.finish(
                        call, mail, reason=MAX_WAIT, told_visitor={"retry_at": retry and retry.isoformat()}
                    )
                    await self._ringing.dispatch(org_id, mail)
            except Exception:
                # Dropped, the visitor would wait on past the promise: try again on the next tick.
                logger.exception("could not end a call past its maximum wait; trying again")
                await self._store.zadd(keys.WAIT_DEADLINES, member, now)
            finally:
                await self._live.deliver(mail)

    async def _retry_at(self, call: CallState, now: float) -> datetime | None:
        async with self._sessions() as db:
            queue = await account_queries.queue_by_id(db, uuid.UUID(call.queue_id))
        if queue is None:
            return None
        when = hours.retry_at(
            queue.opening_hours, queue.timezone, datetime.fromtimestamp(now, UTC), queue.closing_days
        )
        return None if when is None else when.astimezone(UTC)
