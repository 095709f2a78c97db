"""Transfer: the adviser in a call passes it to a queue or to one colleague (``call:transfer``).

The call stays the same call: its id, reference, chat, consent and visitor session, and the
visitor's media leg (only the adviser's leg is replaced: ``MediaPlacement.release_leg``). The
visitor hears ``call:transferred`` ("you are being transferred") and, once a new adviser
accepts, ``call:accepted`` as at the start. A recording in progress stops at the transfer
(reason ``transferred``): the next adviser starts it again, under the visitor's consent
already given.

- **To a queue**: the transferring adviser is free at once (``call:transferred``); the call
  waits at the *front* of that queue (``Queue.add_front``) and is rung by the usual dispatch,
  never back to the adviser who passed it on.
- **To an adviser**, who must be connected, available and idle: that adviser is rung
  (``call:incoming`` with ``transfer``) for ``ring_timeout_seconds`` while the transferring
  adviser stays in the call. Accepted (``signaling.ringing.accept``): the transferring adviser
  gets ``call:transferred`` and is free, their leg retired. Declined, missed or the colleague
  gone (``signaling.ringing.unring``): the call is back with the transferring adviser as it
  was, and both parties hear ``call:transfer_failed``.

Every attempt is a ``CallTransfer`` row; completed ones count in ``calls.transfers`` (statistics).
The caller of ``transfer`` need not hold the organisation's lock: it takes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from accounts import hours
from accounts import queries as account_queries
from accounts.models import User
from accounts.tokens import StaffClaims
from db import SessionFactory, utcnow
from media.placement import MediaPlacement
from signaling import queries
from signaling.config import SignalingConfig
from signaling.ending import Ending
from signaling.errors import Conflict, InvalidInput, NotFound
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.models import CallStatus, TransferOutcome
from signaling.queue import Queue
from signaling.ringing import Ringing, transfer_details
from signaling.state import Activity, AdviserState, CallState, Presence
from signaling.store import keys


class Transfer:
    """Carries out ``call:transfer``."""

    def __init__(
        self,
        *,
        live: LiveState,
        queue: Queue,
        ringing: Ringing,
        ending: Ending,
        sessions: SessionFactory,
        config: SignalingConfig,
        clock: Callable[[], float],
        media: MediaPlacement | None = None,
    ) -> None:
        self._live = live
        self._store = live.store
        self._queue = queue
        self._ringing = ringing
        self._ending = ending
        self._sessions = sessions
        self._config = config
        self._clock = clock
        self._media = media

    async def transfer(
        self,
        staff: StaffClaims,
        *,
        queue_id: uuid.UUID | None = None,
        adviser_id: uuid.UUID | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        if adviser_id is not None and adviser_id == staff.user_id:
            raise InvalidInput("you cannot transfer a call to yourself", code="transfer_to_self")
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.current_call(org_id, adviser_session(user_id))
            if call is None or call.status != CallStatus.ACTIVE or call.adviser_id != user_id:
                raise Conflict("you can transfer only a call you are in", code="not_in_call")
            if queue_id is not None:
                await self._check_queue(staff, call, queue_id)
                await self._to_queue(call, queue_id, staff, note, mail)
                result = {"call_id": call.id, "to": "queue", "queue_id": str(queue_id)}
            else:
                assert adviser_id is not None
                target = await self._check_adviser(staff, adviser_id)
                await self._to_adviser(call, target, staff, note, mail)
                result = {"call_id": call.id, "to": "adviser", "adviser_id": str(adviser_id)}
        await self._live.deliver(mail)
        return result

    async def targets(self, staff: StaffClaims) -> dict[str, Any]:
        """The colleagues a call can be transferred to now: connected, available, idle (the
        queues are the organisation's, which the console already lists)."""
        advisers = await self._live.advisers(str(staff.org_id))
        free = [
            {"adviser_id": a.user_id, "display_name": a.display_name}
            for a in advisers.values()
            if a.user_id != str(staff.user_id)
            and a.presence == Presence.AVAILABLE
            and a.activity == Activity.IDLE
        ]
        return {"advisers": sorted(free, key=lambda a: (a["display_name"], a["adviser_id"]))}

    # -- checks ----------------------------------------------------------------------------

    async def _check_queue(self, staff: StaffClaims, call: CallState, queue_id: uuid.UUID) -> None:
        async with self._sessions() as db:
            queue = await account_queries.queue_by_id(db, queue_id)
            # Another organisation's queue is as unknown as a queue that does not exist.
            if queue is None or queue.org_id != staff.org_id:
                raise NotFound("no such queue", code="queue_not_found")
            if not hours.is_open(queue.opening_hours, queue.timezone, utcnow()):
                raise Conflict("that queue is closed now", code="queue_closed")
            if call.language and queue.languages and call.language not in queue.languages:
                raise InvalidInput(
                    f"that queue serves {', '.join(queue.languages)}", code="language_not_served"
                )

    async def _check_adviser(self, staff: StaffClaims, adviser_id: uuid.UUID) -> AdviserState:
        async with self._sessions() as db:
            user = await db.get(User, adviser_id)
            if user is None or user.org_id != staff.org_id or not user.active:
                raise NotFound("no such adviser", code="adviser_not_found")
        target = await self._live.adviser(str(staff.org_id), str(adviser_id))
        if target is None or target.presence != Presence.AVAILABLE or target.activity != Activity.IDLE:
            raise Conflict("that adviser is not available to take a call now", code="adviser_unavailable")
        return target

    # -- transitions (the organisation's lock is held) -------------------------------------

    async def _leave(self, call: CallState, mail: Mail) -> None:
        """What every transfer does first: a recording stops, the visitor is told."""
        if call.recording:
            await self._ending.stop_recording(call, mail, reason="transferred")
        if call.sharing:
            call.sharing = False  # the next adviser starts on their camera
            mail.append((visitor_session(call.visitor), "share:state", {"active": False}))
        mail.append((visitor_session(call.visitor), "call:transferred", {"call_id": call.id}))

    async def _to_queue(
        self, call: CallState, queue_id: uuid.UUID, staff: StaffClaims, note: str | None, mail: Mail
    ) -> None:
        user_id = str(staff.user_id)
        async with self._sessions() as db:
            await queries.record_transfer(
                db,
                uuid.UUID(call.id),
                from_adviser_id=staff.user_id,
                outcome=TransferOutcome.QUEUED,
                to_queue_id=queue_id,
            )
            await queries.update_call(db, uuid.UUID(call.id), status=CallStatus.WAITING, queue_id=queue_id)
            await db.commit()
        await self._leave(call, mail)
        if self._media is not None:
            await self._media.release_leg(call.id, "adviser")
        adviser = await self._live.adviser(call.org_id, user_id)
        if adviser is not None:
            adviser.activity, adviser.call_id, adviser.idle_since = Activity.IDLE, "", self._clock()
            await self._live.save_adviser(call.org_id, adviser)
        call.status, call.adviser_id, call.queue_id = CallStatus.WAITING, "", str(queue_id)
        # Never rung back to the adviser who passed it on.
        call.declined = [user_id]
        call.transfer_note = note or ""
        call.transfers += 1
        await self._live.save_call(call)
        await self._queue.add_front(call)
        mail.append(
            (
                adviser_session(user_id),
                "call:transferred",
                {"call_id": call.id, "to": "queue", "queue_id": str(queue_id)},
            )
        )
        await self._queue.joined(call, mail)
        await self._ringing.dispatch(call.org_id, mail)
        await self._queue.changed(call.org_id, mail)

    async def _to_adviser(
        self, call: CallState, target: AdviserState, staff: StaffClaims, note: str | None, mail: Mail
    ) -> None:
        async with self._sessions() as db:
            await queries.record_transfer(
                db,
                uuid.UUID(call.id),
                from_adviser_id=staff.user_id,
                outcome=TransferOutcome.RINGING,
                to_adviser_id=uuid.UUID(target.user_id),
            )
            await db.commit()
        await self._leave(call, mail)
        now = self._clock()
        # The transferring adviser stays busy with the call (and in it) until it is accepted.
        call.status, call.adviser_id = CallStatus.RINGING, target.user_id
        call.transfer_from, call.transfer_note = str(staff.user_id), note or ""
        call.ring_deadline = now + self._config.ring_timeout_seconds
        target.activity, target.call_id = Activity.RINGING, call.id
        await self._live.save_call(call)
        await self._live.save_adviser(call.org_id, target)
        await self._store.zadd(keys.RINGS, keys.org_member(call.org_id, call.id), call.ring_deadline)
        mail.append(
            (
                adviser_session(target.user_id),
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
