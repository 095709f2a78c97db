"""The switchboard: queues visitors, rings advisers, and carries each call to its end.

Every state change of an organisation's calls and advisers happens under that
organisation's lock in the realtime store, so several signalling nodes sharing one Redis
never ring two advisers for one call or one adviser for two calls. The database keeps the
durable record of each call; the store keeps the live state. Events are collected while
the lock is held and sent after it is released.

Who is rung: the waiting call that joined first, among all the organisation's queues,
goes to the adviser who has been idle longest among those who are available, serve its
queue and language, and have not declined or missed it. A ring lasts
``ring_timeout_seconds``; a missed ring sets the adviser *away* (they are evidently not at
their desk) and rings the next one.

ETA: ``eta_seconds = ceil(position * mean_handle_time / staffed)`` where ``staffed`` is
the number of connected, available advisers serving the queue (in a call or not) and
``mean_handle_time`` is an exponential moving average (weight 0.2) of the queue's
answered call durations, starting from ``default_handle_seconds``. With nobody staffed
the ETA is ``null``: we do not promise what we cannot estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import webhooks
from accounts import hours
from accounts import queries as account_queries
from accounts.models import CALL_TAKING_ROLES, RecordingPolicy, User
from accounts.tokens import StaffClaims, VisitorClaims
from db import SessionFactory, utcnow
from media.placement import MediaPlacement
from media.types import Party
from signaling import consent, queries
from signaling.call_events import call_ended_payload
from signaling.config import SignalingConfig
from signaling.errors import Conflict, Forbidden, InvalidInput, NotFound
from signaling.models import Call, CallStatus
from signaling.outbox import Outbox, SessionId
from signaling.recording import RecordingControl
from signaling.reference import new_reference
from signaling.state import (
    DETACHED,
    RINGS,
    Activity,
    AdviserState,
    CallState,
    Presence,
    advisers_key,
    call_key,
    org_waiting_key,
    queue_waiting_key,
    session_key,
)
from signaling.store import RealtimeStore

logger = logging.getLogger(__name__)

Mail = list[tuple[SessionId, str, dict[str, Any]]]
AHT_WEIGHT = 0.2


def _visitor(subject: str) -> SessionId:
    return SessionId("visitor", subject)


def _adviser(user_id: str) -> SessionId:
    return SessionId("adviser", user_id)


def _party(session: SessionId) -> Party:
    return "visitor" if session.kind == "visitor" else "adviser"


class Switchboard:
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
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._sessions = sessions
        self._config = config
        self._media = media
        self._recording = recording
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._tick_forever(), name="switchboard-ticker"))
        if self._media is not None:
            self._tasks.append(asyncio.create_task(self._watch_media(self._media), name="switchboard-media"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("switchboard tick failed; trying again")
            await asyncio.sleep(self._config.tick_seconds)

    async def tick(self) -> None:
        """Handle rings that went unanswered and connections that did not come back in time."""
        now = self._clock()
        for member in await self._store.zrangebyscore(RINGS, now):
            # Every node ticks; the one whose removal succeeds handles the entry.
            if not await self._store.zrem(RINGS, member):
                continue
            org_id, _, call_id = member.partition("|")
            mail: Mail = []
            async with self._store.lock(f"org:{org_id}"):
                call = await self._call(call_id)
                if call and call.status == CallStatus.RINGING and call.ring_deadline <= now:
                    await self._ring_missed(call, mail)
                    await self._dispatch(org_id, mail)
            await self._deliver(mail)
        for member in await self._store.zrangebyscore(DETACHED, now):
            if not await self._store.zrem(DETACHED, member):
                continue
            org_id, _, room = member.partition("|")
            mail = []
            async with self._store.lock(f"org:{org_id}"):
                if int(await self._store.get(f"conns:{room}") or 0) <= 0:
                    await self._session_gone(org_id, SessionId.parse(room), mail)
            await self._deliver(mail)

    async def _watch_media(self, media: MediaPlacement) -> None:
        """End calls whose media ended by itself (a party closed its connection, ICE failed)."""
        async for call_id, reason in media.ended():
            try:
                call = await self._call(call_id)
                if call is None:
                    continue
                mail: Mail = []
                async with self._store.lock(f"org:{call.org_id}"):
                    call = await self._call(call_id)
                    if call is not None and call.status == CallStatus.ACTIVE:
                        await self._finish(call, mail, reason=reason)
                        await self._dispatch(call.org_id, mail)
                await self._deliver(mail)
            except Exception:
                logger.exception("could not end call %s after its media ended", call_id)

    # -- connections -----------------------------------------------------------------------

    async def visitor_connected(self, visitor: VisitorClaims) -> None:
        await self._attach(str(visitor.org_id), _visitor(visitor.visitor_id))

    async def visitor_disconnected(self, visitor: VisitorClaims) -> None:
        await self._detach(str(visitor.org_id), _visitor(visitor.visitor_id))

    async def adviser_connected(self, staff: StaffClaims) -> None:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        async with self._sessions() as db:
            user = await db.get(User, staff.user_id)
            if user is None or not user.active:
                raise Forbidden("account disabled", code="account_disabled")
            if user.role not in CALL_TAKING_ROLES:  # the token may predate a role change
                raise Forbidden("your role does not take calls", code="forbidden")
            served = await account_queries.served_queue_ids(db, staff.user_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            await self._attach(org_id, _adviser(user_id))
            adviser = await self._adviser_state(org_id, user_id)
            if adviser is None:
                adviser = AdviserState(
                    user_id=user_id, display_name="", queues=None, languages=[], idle_since=self._clock()
                )
            elif adviser.presence == Presence.OFFLINE:
                adviser.presence = adviser.presence_before_drop or Presence.AWAY
            # What an admin changed since the last connection applies from this one on.
            adviser.display_name = user.display_name
            adviser.queues = [str(q) for q in served] or None
            adviser.languages = list(user.languages)
            await self._save_adviser(org_id, adviser)
            await self._dispatch(org_id, mail)
        await self._deliver(mail)

    async def adviser_disconnected(self, staff: StaffClaims) -> None:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        session = _adviser(user_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            if await self._detach(org_id, session):
                adviser = await self._adviser_state(org_id, user_id)
                if adviser is not None:
                    # Nobody is there to answer: stop ringing them now; a call in progress
                    # gets the resume window to come back.
                    adviser.presence_before_drop = adviser.presence
                    adviser.presence = Presence.OFFLINE
                    if adviser.activity == Activity.RINGING:
                        call = await self._call(adviser.call_id)
                        if call is not None:
                            await self._unring(call, adviser, mail, reason="adviser_left")
                    await self._save_adviser(org_id, adviser)
                    await self._dispatch(org_id, mail)
                    await self._queue_changed(org_id, mail)
        await self._deliver(mail)

    async def _attach(self, org_id: str, session: SessionId) -> None:
        await self._store.incr(f"conns:{session.room}")
        await self._store.zrem(DETACHED, f"{org_id}|{session.room}")

    async def _detach(self, org_id: str, session: SessionId) -> bool:
        """Count a connection gone; True when it was the session's last one."""
        if await self._store.decr(f"conns:{session.room}") > 0:
            return False
        deadline = self._clock() + self._config.resume_window_seconds
        await self._store.zadd(DETACHED, f"{org_id}|{session.room}", deadline)
        return True

    async def _session_gone(self, org_id: str, session: SessionId, mail: Mail) -> None:
        """The resume window passed without the session coming back."""
        await self._store.delete(f"conns:{session.room}")
        if session.kind == "visitor":
            call_id = await self._store.hget(session_key(session.room), "call_id")
            call = await self._call(call_id) if call_id else None
            if call is not None:
                await self._finish(call, mail, reason="visitor_disconnected")
                await self._dispatch(org_id, mail)
            return
        adviser = await self._adviser_state(org_id, session.subject)
        if adviser is None:
            return
        if adviser.activity == Activity.BUSY:
            call = await self._call(adviser.call_id)
            if call is not None:
                await self._finish(call, mail, reason="adviser_disconnected")
        await self._store.hdel(advisers_key(org_id), session.subject)
        await self._dispatch(org_id, mail)
        await self._queue_changed(org_id, mail)

    # -- visitor actions -------------------------------------------------------------------

    async def join(self, visitor: VisitorClaims, queue_id: uuid.UUID, language: str | None) -> dict[str, Any]:
        org_id = str(visitor.org_id)
        session = _visitor(visitor.visitor_id)
        async with self._sessions() as db:
            queue = await account_queries.queue_by_id(db, queue_id)
            if queue is None or queue.org_id != visitor.org_id:
                raise NotFound("no such queue", code="queue_not_found")
            if not hours.is_open(queue.opening_hours, queue.timezone, utcnow()):
                opens = hours.next_opening(queue.opening_hours, queue.timezone, utcnow())
                raise Conflict(
                    "the queue is closed" + (f"; it opens at {opens.isoformat()}" if opens else ""),
                    code="queue_closed",
                )
            if language and queue.languages and language not in queue.languages:
                raise InvalidInput(
                    f"this queue serves {', '.join(queue.languages)}", code="language_not_served"
                )
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            used = await self._store.hgetall(session_key(session.room))
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
                    )
                )
                await db.commit()
            await self._store.hset(call_key(call.id), call.to_hash())
            await self._store.hset(session_key(session.room), {"call_id": call.id, "org_id": org_id})
            await self._store.expire(session_key(session.room), self._config.visitor_token_seconds)
            await self._store.zadd(queue_waiting_key(call.queue_id), call.id, call.joined_at)
            await self._store.zadd(org_waiting_key(org_id), call.id, call.joined_at)
            await self._dispatch(org_id, mail)
            await self._queue_changed(org_id, mail)
            position = await self._position(call)
        await self._deliver(mail)
        return {"call_id": call.id, "reference": call.reference, "position": position}

    async def leave(self, visitor: VisitorClaims) -> dict[str, Any]:
        return await self.end(_visitor(visitor.visitor_id), visitor.org_id)

    # -- adviser actions -------------------------------------------------------------------

    async def set_presence(self, staff: StaffClaims, status: Presence) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            adviser = await self._adviser_state(org_id, user_id)
            if adviser is None:
                raise Conflict("not connected", code="not_connected")
            if status == Presence.AVAILABLE and adviser.presence != Presence.AVAILABLE:
                adviser.idle_since = self._clock()
            adviser.presence = status
            await self._save_adviser(org_id, adviser)
            await self._dispatch(org_id, mail)
            await self._queue_changed(org_id, mail)
        await self._deliver(mail)
        return {"status": str(status)}

    async def accept(self, staff: StaffClaims, call_id: str) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            call = await self._call(call_id)
            if call is None or call.org_id != org_id:
                raise NotFound("no such call", code="call_not_found")
            if call.status != CallStatus.RINGING or call.adviser_id != user_id:
                raise Conflict("this call is not ringing for you", code="not_ringing")
            adviser = await self._adviser_state(org_id, user_id)
            assert adviser is not None, "a ringing adviser is connected"
            now = self._clock()
            call.status, call.accepted_at = CallStatus.ACTIVE, now
            adviser.activity = Activity.BUSY
            await self._store.zrem(RINGS, f"{org_id}|{call.id}")
            await self._store.zrem(queue_waiting_key(call.queue_id), call.id)
            await self._store.zrem(org_waiting_key(org_id), call.id)
            await self._save_call(call)
            await self._save_adviser(org_id, adviser)
            async with self._sessions() as db:
                await queries.update_call(
                    db,
                    uuid.UUID(call.id),
                    status=CallStatus.ACTIVE,
                    adviser_id=staff.user_id,
                    accepted_at=datetime.fromtimestamp(now, UTC),
                )
                await db.commit()
            accepted = {"call_id": call.id, "reference": call.reference}
            mail.append(
                (
                    _visitor(call.visitor),
                    "call:accepted",
                    {**accepted, "adviser": {"display_name": adviser.display_name}},
                )
            )
            waited = round(now - call.joined_at, 1)
            mail.append(
                (
                    _adviser(user_id),
                    "call:accepted",
                    {**accepted, "queue_id": call.queue_id, "waited_seconds": waited},
                )
            )
            await self._queue_changed(org_id, mail)
        await self._deliver(mail)
        return {"call_id": call.id, "reference": call.reference}

    async def decline(self, staff: StaffClaims, call_id: str | None) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            adviser = await self._adviser_state(org_id, user_id)
            call = await self._call(adviser.call_id) if adviser and adviser.call_id else None
            if (
                adviser is None
                or call is None
                or call.status != CallStatus.RINGING
                or (call_id is not None and call.id != call_id)
            ):
                raise Conflict("no call is ringing for you", code="not_ringing")
            await self._unring(call, adviser, mail, reason="declined")
            await self._save_adviser(org_id, adviser)
            await self._dispatch(org_id, mail)
        await self._deliver(mail)
        return {"call_id": call.id}

    # -- either side -----------------------------------------------------------------------

    async def end(self, session: SessionId, org_id: uuid.UUID) -> dict[str, Any]:
        """End the session's call: a waiting or ringing one is abandoned, an active one ended."""
        org = str(org_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org}"):
            call = await self._current_call(org, session)
            if call is None:
                raise Conflict("there is no call to end", code="no_call")
            if session.kind == "adviser" and call.status != CallStatus.ACTIVE:
                raise Conflict("decline a ringing call instead of ending it", code="not_active")
            reason = "visitor_ended" if session.kind == "visitor" else "adviser_ended"
            await self._finish(call, mail, reason=reason)
            await self._dispatch(org, mail)
        await self._deliver(mail)
        return {"call_id": call.id, "reference": call.reference}

    # -- media -----------------------------------------------------------------------------

    async def _active_call(self, session: SessionId, org_id: uuid.UUID) -> tuple[MediaPlacement, CallState]:
        if self._media is None:
            raise Conflict("this node relays no media", code="media_unavailable")
        call = await self._current_call(str(org_id), session)
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
        self, visitor: VisitorClaims, granted: bool, text_id: str, language: str | None
    ) -> dict[str, Any]:
        """Store the visitor's answer; a withdrawal stops a running recording at once."""
        org_id = str(visitor.org_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            call = await self._current_call(org_id, _visitor(visitor.visitor_id))
            if call is None:
                raise Conflict("join a queue first", code="no_call")
            text = consent.consent_text(text_id, language or call.language or "en")
            async with self._sessions() as db:
                await consent.record_answer(
                    db, call_id=uuid.UUID(call.id), party="visitor", granted=granted, text=text
                )
                await db.commit()
            if not granted and call.recording:
                await self._stop_recording(call, mail, reason="consent_withdrawn")
        await self._deliver(mail)
        return {"recording": granted, "text_id": text.id, "language": text.language}

    async def start_recording(self, staff: StaffClaims) -> dict[str, Any]:
        org_id = str(staff.org_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            call = await self._current_call(org_id, _adviser(str(staff.user_id)))
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
                if not await consent.granted(db, call_id=uuid.UUID(call.id), party="visitor"):
                    raise Forbidden("the visitor has not consented to recording", code="no_consent")
            call.recording = await self._recording.start(call.id)
            await self._save_call(call)
            state = {"active": True}
            mail += [
                (_visitor(call.visitor), "recording:state", state),
                (_adviser(call.adviser_id), "recording:state", state),
            ]
        await self._deliver(mail)
        return {"active": True}

    async def stop_recording(self, staff: StaffClaims) -> dict[str, Any]:
        org_id = str(staff.org_id)
        mail: Mail = []
        async with self._store.lock(f"org:{org_id}"):
            call = await self._current_call(org_id, _adviser(str(staff.user_id)))
            if call is None or not call.recording:
                raise Conflict("nothing is being recorded", code="not_recording")
            await self._stop_recording(call, mail, reason="adviser_stopped")
        await self._deliver(mail)
        return {"active": False}

    async def _stop_recording(self, call: CallState, mail: Mail, *, reason: str) -> None:
        ids, call.recording = call.recording, {}
        await self._save_call(call)
        if self._recording is not None:
            await self._recording.stop(call.id, ids)
        state = {"active": False, "reason": reason}
        mail.append((_visitor(call.visitor), "recording:state", state))
        if call.adviser_id:
            mail.append((_adviser(call.adviser_id), "recording:state", state))

    async def state_of(self, session: SessionId, org_id: uuid.UUID) -> dict[str, Any]:
        """What a (re)connecting client needs to draw itself: its call, its place in the
        queue while waiting, and for an adviser the queue snapshot."""
        org = str(org_id)
        call = await self._current_call(org, session)
        state: dict[str, Any] = {"call": None}
        if call is not None:
            state["call"] = {
                "call_id": call.id,
                "status": call.status,
                "reference": call.reference,
                "recording": bool(call.recording),
            }
            if call.status in (CallStatus.WAITING, CallStatus.RINGING):
                state["call"]["position"] = await self._position(call)
        if session.kind == "adviser":
            adviser = await self._adviser_state(org, session.subject)
            if adviser is not None:
                state["snapshot"] = await self._snapshot(org, adviser)
        return state

    async def current_call(self, session: SessionId, org_id: uuid.UUID) -> CallState | None:
        """The session's call in any state (``None`` when it has none); read without the lock."""
        return await self._current_call(str(org_id), session)

    async def _current_call(self, org_id: str, session: SessionId) -> CallState | None:
        if session.kind == "visitor":
            call_id = await self._store.hget(session_key(session.room), "call_id")
        else:
            adviser = await self._adviser_state(org_id, session.subject)
            call_id = adviser.call_id if adviser else None
        return await self._call(call_id) if call_id else None

    # -- transitions (caller holds the organisation's lock) --------------------------------

    async def _dispatch(self, org_id: str, mail: Mail) -> None:
        """Ring an adviser for every waiting call that has one, oldest call first."""
        advisers = await self._advisers(org_id)
        for call_id, _ in await self._store.zrange(org_waiting_key(org_id)):
            call = await self._call(call_id)
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
            await self._save_call(call)
            await self._save_adviser(org_id, adviser)
            await self._store.zadd(RINGS, f"{org_id}|{call.id}", call.ring_deadline)
            await self._set_call_status(call.id, CallStatus.RINGING)
            mail.append(
                (
                    _adviser(adviser.user_id),
                    "call:incoming",
                    {
                        "call_id": call.id,
                        "queue_id": call.queue_id,
                        "language": call.language or None,
                        "waited_seconds": round(now - call.joined_at, 1),
                        "ring_seconds": self._config.ring_timeout_seconds,
                    },
                )
            )

    async def _unring(self, call: CallState, adviser: AdviserState, mail: Mail, *, reason: str) -> None:
        """Take a ringing call back from ``adviser`` and put it back in the queue."""
        call.status, call.adviser_id, call.ring_deadline = CallStatus.WAITING, "", 0.0
        call.declined.append(adviser.user_id)
        adviser.activity, adviser.call_id = Activity.IDLE, ""
        await self._store.zrem(RINGS, f"{call.org_id}|{call.id}")
        await self._save_call(call)
        await self._set_call_status(call.id, CallStatus.WAITING)
        mail.append((_adviser(adviser.user_id), "call:withdrawn", {"call_id": call.id, "reason": reason}))

    async def _ring_missed(self, call: CallState, mail: Mail) -> None:
        adviser = await self._adviser_state(call.org_id, call.adviser_id)
        if adviser is None:
            return
        await self._unring(call, adviser, mail, reason="ring_timeout")
        adviser.presence = Presence.AWAY
        await self._save_adviser(call.org_id, adviser)
        mail.append(
            (_adviser(adviser.user_id), "presence:state", {"status": Presence.AWAY, "reason": "missed_call"})
        )

    async def _finish(self, call: CallState, mail: Mail, *, reason: str) -> None:
        """End ``call`` for good: store the outcome, free the adviser, tell both sides."""
        now = self._clock()
        answered = call.status == CallStatus.ACTIVE
        outcome = CallStatus.ENDED if answered else CallStatus.ABANDONED
        org_id = call.org_id
        if call.recording:
            await self._stop_recording(call, mail, reason="call_ended")
        await self._store.zrem(RINGS, f"{org_id}|{call.id}")
        await self._store.zrem(queue_waiting_key(call.queue_id), call.id)
        await self._store.zrem(org_waiting_key(org_id), call.id)
        await self._store.delete(call_key(call.id))
        # The session stays marked as used: a visitor token is good for one call.
        await self._store.hset(session_key(_visitor(call.visitor).room), {"call_id": "", "ended": call.id})
        async with self._sessions() as db:
            await queries.update_call(
                db,
                uuid.UUID(call.id),
                status=outcome,
                end_reason=reason,
                ended_at=datetime.fromtimestamp(now, UTC),
            )
            # In the same transaction: the webhook is owed exactly when the outcome is stored.
            payload = call_ended_payload(call, outcome=outcome, reason=reason, ended_at=now)
            await webhooks.enqueue_event(db, uuid.UUID(org_id), webhooks.WebhookEvent.CALL_ENDED, payload)
            await db.commit()
        ended = {"call_id": call.id, "reason": reason, "reference": call.reference}
        mail.append((_visitor(call.visitor), "call:ended", ended))
        if call.adviser_id:
            adviser = await self._adviser_state(org_id, call.adviser_id)
            if adviser is not None and adviser.call_id == call.id:
                if answered:
                    mail.append((_adviser(adviser.user_id), "call:ended", ended))
                    adviser.idle_since = now
                else:
                    mail.append(
                        (_adviser(adviser.user_id), "call:withdrawn", {"call_id": call.id, "reason": reason})
                    )
                adviser.activity, adviser.call_id = Activity.IDLE, ""
                await self._save_adviser(org_id, adviser)
        if answered:
            await self._learn_handle_time(call.queue_id, now - call.accepted_at)
            if self._media is not None:
                await self._media.close_call(call.id)
        await self._queue_changed(org_id, mail)

    async def _queue_changed(self, org_id: str, mail: Mail) -> None:
        """Tell every waiting visitor their position and ETA, and every adviser what is waiting."""
        advisers = await self._advisers(org_id)
        calls = [
            call
            for call_id, _ in await self._store.zrange(org_waiting_key(org_id))
            if (call := await self._call(call_id)) is not None
        ]
        for call in calls:
            position = await self._position(call)
            staffed = sum(1 for a in advisers.values() if a.presence == Presence.AVAILABLE and a.serves(call))
            eta = None
            if staffed:
                eta = math.ceil(position * await self._handle_time(call.queue_id) / staffed)
            mail.append(
                (_visitor(call.visitor), "queue:position", {"position": position, "eta_seconds": eta})
            )
        for adviser in advisers.values():
            if adviser.presence != Presence.OFFLINE:
                mail.append(
                    (
                        _adviser(adviser.user_id),
                        "queue:snapshot",
                        await self._snapshot(org_id, adviser, calls),
                    )
                )

    async def _snapshot(
        self, org_id: str, adviser: AdviserState, calls: list[CallState] | None = None
    ) -> dict[str, Any]:
        if calls is None:
            calls = [
                call
                for call_id, _ in await self._store.zrange(org_waiting_key(org_id))
                if (call := await self._call(call_id)) is not None
            ]
        now = self._clock()
        waiting = [
            {
                "call_id": call.id,
                "queue_id": call.queue_id,
                "language": call.language or None,
                "status": call.status,
                "waited_seconds": round(now - call.joined_at, 1),
            }
            for call in calls
            if adviser.serves(call)
        ]
        return {"waiting": waiting, "presence": adviser.presence, "activity": adviser.activity}

    # -- store helpers ---------------------------------------------------------------------

    async def _call(self, call_id: str) -> CallState | None:
        raw = await self._store.hgetall(call_key(call_id))
        return CallState.from_hash(raw) if raw else None

    async def _save_call(self, call: CallState) -> None:
        await self._store.hset(call_key(call.id), call.to_hash())

    async def _advisers(self, org_id: str) -> dict[str, AdviserState]:
        raw = await self._store.hgetall(advisers_key(org_id))
        return {user_id: AdviserState.from_json(value) for user_id, value in raw.items()}

    async def _adviser_state(self, org_id: str, user_id: str) -> AdviserState | None:
        raw = await self._store.hget(advisers_key(org_id), user_id)
        return AdviserState.from_json(raw) if raw else None

    async def _save_adviser(self, org_id: str, adviser: AdviserState) -> None:
        await self._store.hset(advisers_key(org_id), {adviser.user_id: adviser.to_json()})

    async def _position(self, call: CallState) -> int:
        members = [member for member, _ in await self._store.zrange(queue_waiting_key(call.queue_id))]
        return members.index(call.id) + 1 if call.id in members else 0

    async def _handle_time(self, queue_id: str) -> float:
        raw = await self._store.get(f"aht:{queue_id}")
        return float(raw) if raw else self._config.default_handle_seconds

    async def _learn_handle_time(self, queue_id: str, duration: float) -> None:
        mean = await self._handle_time(queue_id)
        await self._store.set(f"aht:{queue_id}", str((1 - AHT_WEIGHT) * mean + AHT_WEIGHT * duration))

    async def _set_call_status(self, call_id: str, status: CallStatus) -> None:
        async with self._sessions() as db:
            await queries.update_call(db, uuid.UUID(call_id), status=status)
            await db.commit()

    async def _deliver(self, mail: Mail) -> None:
        for session, event, data in mail:
            await self._outbox.send(session, event, data)
