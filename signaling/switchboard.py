"""The switchboard: queues visitors, rings advisers, and carries each call to its end.

It is the one object the socket.io namespaces talk to, and it is made of parts that each
state their own promise next to their code:

- ``signaling.live``: the live state in the realtime store and the locking rule (every
  change of an organisation's calls and advisers under that organisation's lock; events
  collected under it and sent after it is released);
- ``signaling.queue``: the waiting order, positions and the ETA formula;
- ``signaling.ringing``: who is rung, answering, declining and missed rings;
- ``signaling.ending``: how a call ends and what its end stores;
- ``signaling.attendance``: connections, the resume window and presence;
- ``signaling.wait_limit``: the queue's maximum wait, and when to try again.

What stays here: joining a queue, media and recording during a call, the state a
(re)connecting client draws itself from, and the background tasks (the ticker that expires
rings and resume windows on every node, and the watch on media that ended by itself).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from accounts import hours
from accounts import queries as account_queries
from accounts.models import RecordingPolicy
from accounts.tokens import StaffClaims, VisitorClaims
from db import SessionFactory, utcnow
from media.placement import MediaPlacement
from media.types import Party
from privacy import require_dpa_accepted
from signaling import consent, consent_texts
from signaling.attendance import Attendance
from signaling.config import SignalingConfig
from signaling.ending import Ending
from signaling.errors import Conflict, Forbidden, InvalidInput, NotFound
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.metrics import CallMetrics
from signaling.models import Call, CallStatus
from signaling.outbox import Outbox, SessionId
from signaling.queue import Queue
from signaling.recording import RecordingControl
from signaling.reference import new_reference
from signaling.ringing import Ringing
from signaling.state import CallState, Presence
from signaling.store import RealtimeStore, keys
from signaling.transfer import Transfer
from signaling.wait_limit import WaitLimit

logger = logging.getLogger(__name__)


def _party(session: SessionId) -> Party:
    return "visitor" if session.kind == "visitor" else "adviser"


class Switchboard:
    """Everything the socket.io namespaces ask of the live call, for every organisation."""

    def __init__(
        self,
        *,
        store: RealtimeStore,
        outbox: Outbox,
        sessions: SessionFactory,
        config: SignalingConfig,
        media: MediaPlacement | None = None,
        recording: RecordingControl | None = None,
        clock: Callable[[], float] = time.time,
        node_id: str | None = None,
        calls: CallMetrics | None = None,
    ) -> None:
        # Each process is a node of its own: a restarted process's connections are new ones.
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._store = store
        self._sessions = sessions
        self._config = config
        self._media = media
        self._recording = recording
        self._clock = clock
        self._live = LiveState(store, outbox, lock_seconds=config.lock_timeout_seconds)
        self._queue = Queue(live=self._live, config=config, clock=clock)
        self._ringing = Ringing(
            live=self._live, queue=self._queue, sessions=sessions, config=config, clock=clock, media=media
        )
        # The call lifecycle's counters and log lines (signaling.metrics); None: not counted.
        self._calls = calls
        self._ending = Ending(
            live=self._live,
            queue=self._queue,
            ringing=self._ringing,
            sessions=sessions,
            media=media,
            recording=recording,
            clock=clock,
            on_finished=calls.call_finished if calls is not None else None,
        )
        self._attendance = Attendance(
            live=self._live,
            queue=self._queue,
            ringing=self._ringing,
            ending=self._ending,
            sessions=sessions,
            config=config,
            clock=clock,
            node_id=self.node_id,
        )
        self._transfer = Transfer(
            live=self._live,
            queue=self._queue,
            ringing=self._ringing,
            ending=self._ending,
            sessions=sessions,
            config=config,
            clock=clock,
            media=media,
        )
        self._wait_limit = WaitLimit(
            live=self._live, ending=self._ending, ringing=self._ringing, sessions=sessions
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._store_back_at = float("-inf")  # when a tick last failed (the store away?)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._attendance.heartbeat(self._clock())
        self._tasks.append(asyncio.create_task(self._tick_forever(), name="switchboard-ticker"))
        if self._media is not None:
            self._tasks.append(
                asyncio.create_task(self._ending.watch_media(self._media), name="switchboard-media")
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, not suppress(CancelledError) around await: a cancellation of stop() itself
            # (the shutdown step's bound) must not be swallowed with the tasks' own (test_stopping.py).
            await asyncio.wait(tasks)
        try:
            await self._attendance.leave_cluster()
        except Exception:  # the store may be gone: the heartbeat then lapses by itself
            logger.exception("could not say this node stops")

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The store may have been away: every node's heart stopped with it, so none
                # is buried until the others have had a whole node_ttl_seconds to beat again.
                self._store_back_at = self._clock()
                logger.exception("switchboard tick failed; trying again")
            await asyncio.sleep(self._config.tick_seconds)

    async def tick(self) -> None:
        """Beat this node's heart, let dead nodes' connections go, handle rings that went
        unanswered, waits past their queue's maximum and sessions that did not come back in time,
        and send the queue updates due."""
        now = self._clock()
        await self._attendance.heartbeat(now)
        if now - self._store_back_at >= self._config.node_ttl_seconds:
            await self._attendance.bury_dead_nodes(now)
        await self._ringing.expire(now)
        await self._wait_limit.expire(now)
        await self._attendance.expire(now)
        await self._queue.flush(now)

    # -- connections and presence (signaling.attendance) -----------------------------------

    async def visitor_connected(self, visitor: VisitorClaims) -> None:
        await self._attendance.visitor_connected(visitor)

    async def visitor_disconnected(self, visitor: VisitorClaims) -> None:
        await self._attendance.visitor_disconnected(visitor)

    async def adviser_connected(self, staff: StaffClaims) -> None:
        await self._attendance.adviser_connected(staff)

    async def adviser_disconnected(self, staff: StaffClaims) -> None:
        await self._attendance.adviser_disconnected(staff)

    async def set_presence(self, staff: StaffClaims, status: Presence) -> dict[str, Any]:
        return await self._attendance.set_presence(staff, status)

    # -- ringing and ending (signaling.ringing, signaling.ending) ---------------------------

    async def accept(self, staff: StaffClaims, call_id: str) -> dict[str, Any]:
        before = await self._live.call(call_id) if self._calls is not None else None
        accepted = await self._ringing.accept(staff, call_id)
        # A transferred call was answered once already: it counts once.
        if self._calls is not None and not (before is not None and before.accepted_at):
            call = await self._live.call(call_id)
            if call is not None and call.accepted_at:
                self._calls.call_answered(call)
        return accepted

    async def decline(self, staff: StaffClaims, call_id: str | None) -> dict[str, Any]:
        return await self._ringing.decline(staff, call_id)

    async def end(self, session: SessionId, org_id: uuid.UUID) -> dict[str, Any]:
        """End the session's call: a waiting or ringing one is abandoned, an active one ended."""
        return await self._ending.end(session, org_id)

    async def transfer(
        self,
        staff: StaffClaims,
        *,
        queue_id: uuid.UUID | None,
        adviser_id: uuid.UUID | None,
        note: str | None,
    ) -> dict[str, Any]:
        """Pass the adviser's call to a queue or a colleague (signaling.transfer)."""
        return await self._transfer.transfer(staff, queue_id=queue_id, adviser_id=adviser_id, note=note)

    async def transfer_targets(self, staff: StaffClaims) -> dict[str, Any]:
        return await self._transfer.targets(staff)

    async def share_screen(self, staff: StaffClaims, active: bool) -> dict[str, Any]:
        """The adviser's video is (or is again no longer) a shared screen: the visitor shows it
        large. The media need no change: the console swaps its video track (replaceTrack)."""
        org_id = str(staff.org_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.current_call(org_id, adviser_session(str(staff.user_id)))
            if call is None or call.status != CallStatus.ACTIVE or call.adviser_id != str(staff.user_id):
                raise Conflict("share your screen in an accepted call", code="not_active")
            if call.sharing != active:
                call.sharing = active
                await self._live.save_call(call)
                mail.append((visitor_session(call.visitor), "share:state", {"active": active}))
        await self._live.deliver(mail)
        return {"active": active}

    # -- visitor actions -------------------------------------------------------------------

    async def join(self, visitor: VisitorClaims, queue_id: uuid.UUID, language: str | None) -> dict[str, Any]:
        org_id = str(visitor.org_id)
        session = visitor_session(visitor.visitor_id)
        async with self._sessions() as db:
            queue = await account_queries.queue_by_id(db, queue_id)
            if queue is None or queue.org_id != visitor.org_id:
                raise NotFound("no such queue", code="queue_not_found")
            if not hours.is_open(queue.opening_hours, queue.timezone, utcnow(), queue.closing_days):
                opens = hours.next_opening(queue.opening_hours, queue.timezone, utcnow(), queue.closing_days)
                raise Conflict(
                    "the queue is closed" + (f"; it opens at {opens.isoformat()}" if opens else ""),
                    code="queue_closed",
                )
            max_wait = queue.max_wait_seconds
            if language and queue.languages and language not in queue.languages:
                raise InvalidInput(
                    f"this queue serves {', '.join(queue.languages)}", code="language_not_served"
                )
        mail: Mail = []
        async with self._live.locked(org_id):
            used = await self._store.hgetall(keys.session(session.room))
            if used:
                raise Conflict("this visitor session already has a call", code="already_joined")
            call = CallState(
                id=str(uuid.uuid4()),
                org_id=org_id,
                queue_id=str(queue_id),
                visitor=visitor.visitor_id,
                reference=new_reference(),
                joined_at=self._clock(),
                language=language or "",
                context=dict(visitor.context),
            )
            async with self._sessions() as db:
                db.add(
                    Call(
                        id=uuid.UUID(call.id),
                        org_id=visitor.org_id,
                        queue_id=queue_id,
                        reference=call.reference,
                        visitor_id=visitor.visitor_id,
                        language=language,
                        status=CallStatus.WAITING,
                        context=dict(visitor.context) or None,
                    )
                )
                await db.commit()
            await self._live.save_call(call)
            await self._store.hset(keys.session(session.room), {"call_id": call.id, "org_id": org_id})
            await self._store.expire(keys.session(session.room), self._config.visitor_token_seconds)
            await self._queue.add(call)
            await self._wait_limit.watch(call, max_wait)
            await self._ringing.dispatch(org_id, mail)
            # Only the one who joined hears of it: a join at the tail moves nobody else.
            position = await self._queue.joined(call, mail)
            if self._calls is not None:
                self._calls.call_joined(call)
        await self._live.deliver(mail)
        return {"call_id": call.id, "reference": call.reference, "position": position}

    async def leave(self, visitor: VisitorClaims) -> dict[str, Any]:
        return await self._ending.end(visitor_session(visitor.visitor_id), visitor.org_id)

    # -- media -----------------------------------------------------------------------------

    async def _active_call(self, session: SessionId, org_id: uuid.UUID) -> tuple[MediaPlacement, CallState]:
        if self._media is None:
            raise Conflict("this node relays no media", code="media_unavailable")
        call = await self._live.current_call(str(org_id), session)
        if call is None or call.status != CallStatus.ACTIVE:
            raise Conflict("media starts once the call is accepted", code="not_active")
        return self._media, call

    async def rtc_offer(
        self, session: SessionId, org_id: uuid.UUID, sdp: str, sdp_type: str
    ) -> dict[str, Any]:
        """Answer the party's offer with the server's leg of the call (W3C JSEP: the browser
        always offers, the server always answers)."""
        media, call = await self._active_call(session, org_id)
        answer_sdp, answer_type = await media.answer(call.id, _party(session), sdp, sdp_type)
        return {"sdp": answer_sdp, "type": answer_type}

    async def rtc_candidate(
        self,
        session: SessionId,
        org_id: uuid.UUID,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> dict[str, Any]:
        media, call = await self._active_call(session, org_id)
        used = await media.add_candidate(call.id, _party(session), candidate, sdp_mid, sdp_mline_index)
        return {"used": used}

    # -- consent and recording -------------------------------------------------------------

    async def set_consent(
        self,
        visitor: VisitorClaims,
        granted: bool,
        text_id: str,
        language: str | None,
        shown_sha256: str | None = None,
    ) -> dict[str, Any]:
        """Store the visitor's answer with the version and hash of the text answered
        (``signaling.consent_texts``); a withdrawal stops a running recording at once."""
        org_id = str(visitor.org_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.current_call(org_id, visitor_session(visitor.visitor_id))
            if call is None:
                raise Conflict("join a queue first", code="no_call")
            async with self._sessions() as db:
                text = await consent_texts.answered(
                    db, visitor.org_id, text_id, language or call.language or "en"
                )
                if shown_sha256 is not None and shown_sha256 != text.sha256:
                    # The widget displayed other words than those stored: no evidence beats false evidence.
                    raise InvalidInput(
                        "the text shown is not the text stored under this id", code="consent_text_mismatch"
                    )
                await consent.record_answer(
                    db, call_id=uuid.UUID(call.id), party="visitor", granted=granted, text=text
                )
                await db.commit()
            if not granted and call.recording:
                await self._ending.stop_recording(call, mail, reason="consent_withdrawn")
        await self._live.deliver(mail)
        return {
            "recording": granted,
            "text_id": text.id,
            "language": text.language,
            "version": text.version,
            "sha256": text.sha256,
        }

    async def start_recording(self, staff: StaffClaims) -> dict[str, Any]:
        org_id = str(staff.org_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.current_call(org_id, adviser_session(str(staff.user_id)))
            if call is None or call.status != CallStatus.ACTIVE:
                raise Conflict("recording starts in an accepted call", code="not_active")
            if self._recording is None:
                raise Conflict("this node does not record", code="media_unavailable")
            if call.recording:
                raise Conflict("the call is already being recorded", code="already_recording")
            async with self._sessions() as db:
                queue = await account_queries.queue_by_id(db, uuid.UUID(call.queue_id))
                if queue is None or queue.recording_policy != RecordingPolicy.ASK:
                    raise Forbidden("this queue does not record calls", code="recording_not_allowed")
                # Off until the organisation's dpo accepted the current DPA (privacy.dpa).
                await require_dpa_accepted(db, staff.org_id)
                if not await consent.granted(db, call_id=uuid.UUID(call.id), party="visitor"):
                    raise Forbidden("the visitor has not consented to recording", code="no_consent")
            call.recording = await self._recording.start(call.id)
            await self._live.save_call(call)
            state = {"active": True}
            mail += [
                (visitor_session(call.visitor), "recording:state", state),
                (adviser_session(call.adviser_id), "recording:state", state),
            ]
        await self._live.deliver(mail)
        return {"active": True}

    async def stop_recording(self, staff: StaffClaims) -> dict[str, Any]:
        org_id = str(staff.org_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            call = await self._live.current_call(org_id, adviser_session(str(staff.user_id)))
            if call is None or not call.recording:
                raise Conflict("nothing is being recorded", code="not_recording")
            await self._ending.stop_recording(call, mail, reason="adviser_stopped")
        await self._live.deliver(mail)
        return {"active": False}

    # -- reading ---------------------------------------------------------------------------

    async def state_of(self, session: SessionId, org_id: uuid.UUID) -> dict[str, Any]:
        """What a (re)connecting client needs to draw itself: its call, its place in the
        queue while waiting, and for an adviser the queue snapshot."""
        org = str(org_id)
        call = await self._live.current_call(org, session)
        state: dict[str, Any] = {"call": None}
        if call is not None:
            # The adviser who transferred a call is still in it while the transfer rings.
            transferring_it = session.kind == "adviser" and call.transfer_from == session.subject
            state["call"] = {
                "call_id": call.id,
                "status": CallStatus.ACTIVE if transferring_it else call.status,
                "reference": call.reference,
                "recording": bool(call.recording),
                "sharing": call.sharing,
                # Answered before and waiting or ringing again: being transferred.
                "transferring": bool(call.accepted_at) and call.status != CallStatus.ACTIVE,
            }
            if call.status in (CallStatus.WAITING, CallStatus.RINGING) and not transferring_it:
                state["call"]["position"] = await self._queue.position(call)
        if session.kind == "adviser":
            adviser = await self._live.adviser(org, session.subject)
            if adviser is not None:
                state["snapshot"] = await self._queue.snapshot(org, adviser)
        return state

    async def current_call(self, session: SessionId, org_id: uuid.UUID) -> CallState | None:
        """The session's call in any state (``None`` when it has none); read without the lock."""
        return await self._live.current_call(str(org_id), session)
