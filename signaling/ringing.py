"""Ringing: which adviser is rung for which call, answering, declining and missing a ring.

Who is rung: the waiting call that joined first, among all the organisation's queues,
goes to the adviser who has been idle longest among those who are available, serve its
queue and language, and have not declined or missed it. A ring lasts
``ring_timeout_seconds``; a missed ring sets the adviser *away* (they are evidently not at
their desk) and rings the next one.

A call transferred to one adviser (``signaling.transfer``) rings only them; accepting it
hands it over from the transferring adviser, and declining, missing it or leaving gives it
back to them (``unring``), never to the queue.

Ring deadlines wait in ``keys.RINGS``; every node ticks, and the node whose removal of a
due entry succeeds handles it. The transitions expect the caller to hold the organisation's
lock (``signaling.live``); ``accept``, ``decline`` and ``expire`` take it themselves.

Accepting places the call's media (``MediaPlacement.place``) before anything changes: with
no live media node the adviser's accept fails with ``media_unavailable`` and the call stays
as it was, ringing, so the visitor keeps their place and waits on (the ring runs out and goes
to the next adviser, or this one tries again once a node is back). Ending the visitor's call
over what may be a media node's restart would throw away their wait for nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from accounts.tokens import StaffClaims
from db import SessionFactory
from media.placement import MediaPlacement
from signaling import queries
from signaling.config import SignalingConfig
from signaling.errors import Conflict, NotFound
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.models import CallStatus, TransferOutcome
from signaling.queue import Queue
from signaling.state import Activity, AdviserState, CallState, Presence
from signaling.store import keys

logger = logging.getLogger(__name__)


def transfer_details(call: CallState) -> dict[str, Any] | None:
    """What the rung adviser learns of a transferred call: that it was, and the note."""
    if not (call.transfer_from or call.transfers):
        return None
    return {"note": call.transfer_note or None}


def _anyone_free(advisers: dict[str, AdviserState]) -> bool:
    return any(a.presence == Presence.AVAILABLE and a.activity == Activity.IDLE for a in advisers.values())


class Ringing:
    """Rings advisers for waiting calls and carries a ring to its answer, decline or timeout."""

    def __init__(
        self,
        *,
        live: LiveState,
        queue: Queue,
        sessions: SessionFactory,
        config: SignalingConfig,
        clock: Callable[[], float],
        media: MediaPlacement | None = None,
    ) -> None:
        self._media = media
        self._live = live
        self._store = live.store
        self._queue = queue
        self._sessions = sessions
        self._config = config
        self._clock = clock

    # -- adviser actions -------------------------------------------------------------------

    async def accept(self, staff: StaffClaims, call_id: str) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.call(call_id)
            if call is None or call.org_id != org_id:
                raise NotFound("no such call", code="call_not_found")
            if call.status != CallStatus.RINGING or call.adviser_id != user_id:
                raise Conflict("this call is not ringing for you", code="not_ringing")
            adviser = await self._live.adviser(org_id, user_id)
            assert adviser is not None, "a ringing adviser is connected"
            if self._media is not None:
                # MediaUnavailable (media_unavailable) leaves the call ringing: see above.
                await self._media.place(call.id)
            now = self._clock()
            # A transferred call was answered before: its first answer is what statistics count.
            first_answer = not call.accepted_at
            from_adviser = call.transfer_from
            async with self._sessions() as db:
                await queries.update_call(
                    db,
                    uuid.UUID(call.id),
                    status=CallStatus.ACTIVE,
                    adviser_id=staff.user_id,
                    **({"accepted_at": datetime.fromtimestamp(now, UTC)} if first_answer else {}),
                )
                if from_adviser:
                    await queries.resolve_transfer(db, uuid.UUID(call.id), TransferOutcome.ACCEPTED)
                await db.commit()
            if from_adviser:
                await self._hand_over(call, from_adviser, mail)
            call.status = CallStatus.ACTIVE
            call.accepted_at = call.accepted_at or now
            call.transfer_note = ""
            adviser.activity = Activity.BUSY
            await self.clear(call)
            await self._queue.remove(call)
            await self._live.save_call(call)
            await self._live.save_adviser(org_id, adviser)
            accepted = {"call_id": call.id, "reference": call.reference}
            mail.append(
                (
                    visitor_session(call.visitor),
                    "call:accepted",
                    {**accepted, "adviser": {"display_name": adviser.display_name}},
                )
            )
            waited = round(now - call.joined_at, 1)
            mail.append(
                (
                    adviser_session(user_id),
                    "call:accepted",
                    {
                        **accepted,
                        "queue_id": call.queue_id,
                        "waited_seconds": waited,
                        "context": call.context,
                    },
                )
            )
            await self._queue.changed(org_id, mail)
        await self._live.deliver(mail)
        return {"call_id": call.id, "reference": call.reference}

    async def decline(self, staff: StaffClaims, call_id: str | None) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            adviser = await self._live.adviser(org_id, user_id)
            call = await self._live.call(adviser.call_id) if adviser and adviser.call_id else None
            if (
                adviser is None
                or call is None
                or call.status != CallStatus.RINGING
                or (call_id is not None and call.id != call_id)
            ):
                raise Conflict("no call is ringing for you", code="not_ringing")
            await self.unring(call, adviser, mail, reason="declined")
            await self._live.save_adviser(org_id, adviser)
            await self.dispatch(org_id, mail)
        await self._live.deliver(mail)
        return {"call_id": call.id}

    async def expire(self, now: float) -> None:
        """Handle the rings that went unanswered by ``now``."""
        for member in await self._store.zrangebyscore(keys.RINGS, now):
            # Every node ticks; the one whose removal succeeds handles the entry.
            if not await self._store.zrem(keys.RINGS, member):
                continue
            org_id, call_id = keys.split_org_member(member)
            mail: Mail = []
            try:
                async with self._live.locked(org_id):
                    call = await self._live.call(call_id)
                    if call and call.status == CallStatus.RINGING and call.ring_deadline <= now:
                        await self._ring_missed(call, mail)
                        await self.dispatch(org_id, mail)
            except Exception:
                # Taken off and dropped, the call would ring for ever: put the entry back so
                # the next tick tries again (a missed ring changes nothing until its database
                # write succeeded, so trying again is safe).
                logger.exception("could not end a ring; trying again on the next tick")
                await self._store.zadd(keys.RINGS, member, now)
            finally:
                await self._live.deliver(mail)

    # -- transitions (caller holds the organisation's lock) --------------------------------

    async def dispatch(self, org_id: str, mail: Mail) -> None:
        """Ring an adviser for every waiting call that has one, oldest call first."""
        advisers = await self._live.advisers(org_id)
        free = [
            a for a in advisers.values() if a.presence == Presence.AVAILABLE and a.activity == Activity.IDLE
        ]
        # Only the calls of queues a free adviser serves: a backlog in a queue nobody free serves
        # (5,000 visitors waiting for another team) must not be read on every join and leave.
        served = None if any(a.queues is None for a in free) else {q for a in free for q in a.queues or []}
        for call_id in await self._queue.waiting_ids(org_id, served) if free else []:
            # Nobody (left) free to ring: no need to look at the waiting calls at all, so a
            # join into a busy organisation costs the same whatever the length of its queues.
            if not _anyone_free(advisers):
                break
            call = await self._live.call(call_id)
            if call is None or call.status != CallStatus.WAITING:
                continue
            candidates = [a for a in advisers.values() if a.can_take(call)]
            if not candidates:
                continue
            adviser = min(candidates, key=lambda a: (a.idle_since, a.user_id))
            now = self._clock()
            call.status, call.adviser_id = CallStatus.RINGING, adviser.user_id
            call.ring_deadline = now + self._config.ring_timeout_seconds
            adviser.activity, adviser.call_id = Activity.RINGING, call.id
            await self._live.save_call(call)
            await self._live.save_adviser(org_id, adviser)
            await self._store.zadd(keys.RINGS, keys.org_member(org_id, call.id), call.ring_deadline)
            await self._set_call_status(call.id, CallStatus.RINGING)
            mail.append(
                (
                    adviser_session(adviser.user_id),
                    "call:incoming",
                    {
                        "call_id": call.id,
                        "queue_id": call.queue_id,
                        "language": call.language or None,
                        "waited_seconds": round(now - call.joined_at, 1),
                        "ring_seconds": self._config.ring_timeout_seconds,
                        "context": call.context,
                        "transfer": transfer_details(call),
                    },
                )
            )

    async def unring(self, call: CallState, adviser: AdviserState, mail: Mail, *, reason: str) -> None:
        """Take a ringing call back from ``adviser`` and put it back in the queue (a transfer
        to ``adviser``: back to the adviser who transferred it)."""
        if call.transfer_from:
            await self._transfer_failed(call, adviser, mail, reason=reason)
            return
        # The database first: when it fails, the live state is still untouched.
        await self._set_call_status(call.id, CallStatus.WAITING)
        call.status, call.adviser_id, call.ring_deadline = CallStatus.WAITING, "", 0.0
        call.declined.append(adviser.user_id)
        adviser.activity, adviser.call_id = Activity.IDLE, ""
        await self.clear(call)
        await self._live.save_call(call)
        mail.append(
            (adviser_session(adviser.user_id), "call:withdrawn", {"call_id": call.id, "reason": reason})
        )

    async def _hand_over(self, call: CallState, from_adviser: str, mail: Mail) -> None:
        """A transfer to an adviser was accepted: the transferring adviser's leg is retired
        (the new adviser offers into a fresh one) and they are free."""
        if self._media is not None:
            await self._media.release_leg(call.id, "adviser")
        previous = await self._live.adviser(call.org_id, from_adviser)
        if previous is not None and previous.call_id == call.id:
            previous.activity, previous.call_id, previous.idle_since = Activity.IDLE, "", self._clock()
            await self._live.save_adviser(call.org_id, previous)
        mail.append(
            (adviser_session(from_adviser), "call:transferred", {"call_id": call.id, "to": "adviser"})
        )
        call.transfer_from = ""
        call.transfers += 1

    async def _transfer_failed(
        self, call: CallState, adviser: AdviserState, mail: Mail, *, reason: str
    ) -> None:
        """A transfer to ``adviser`` was declined, missed, or the adviser left: the call is back
        with the adviser who transferred it, as it was."""
        async with self._sessions() as db:
            # reason: declined, ring_timeout or adviser_left, each an outcome of its own
            await queries.resolve_transfer(db, uuid.UUID(call.id), TransferOutcome(reason))
            await db.commit()
        call.status, call.adviser_id, call.ring_deadline = CallStatus.ACTIVE, call.transfer_from, 0.0
        call.transfer_from, call.transfer_note = "", ""
        adviser.activity, adviser.call_id = Activity.IDLE, ""
        await self.clear(call)
        await self._live.save_call(call)
        failed = {"call_id": call.id, "reason": reason}
        mail += [
            (adviser_session(adviser.user_id), "call:withdrawn", failed),
            (adviser_session(call.adviser_id), "call:transfer_failed", failed),
            (visitor_session(call.visitor), "call:transfer_failed", {"call_id": call.id}),
        ]

    async def clear(self, call: CallState) -> None:
        """Forget the call's ring deadline (it was answered, taken back or ended)."""
        await self._store.zrem(keys.RINGS, keys.org_member(call.org_id, call.id))

    async def _ring_missed(self, call: CallState, mail: Mail) -> None:
        adviser = await self._live.adviser(call.org_id, call.adviser_id)
        if adviser is None:
            return
        await self.unring(call, adviser, mail, reason="ring_timeout")
        adviser.presence = Presence.AWAY
        await self._live.save_adviser(call.org_id, adviser)
        mail.append(
            (
                adviser_session(adviser.user_id),
                "presence:state",
                {"status": Presence.AWAY, "reason": "missed_call"},
            )
        )

    async def _set_call_status(self, call_id: str, status: CallStatus) -> None:
        async with self._sessions() as db:
            await queries.update_call(db, uuid.UUID(call_id), status=status)
            await db.commit()
