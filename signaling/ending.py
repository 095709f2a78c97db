"""The end of a call: by either party, by a party that did not come back, or by its media.

A call that was never answered is *abandoned*, an answered one *ended*. Ending stops a
running recording, takes the call out of the live state, frees its adviser, learns the
queue's handle time from an answered call, and stores the outcome in the database together
with the ``call.ended`` webhook it owes and the HMAC of a fresh privacy key: the visitor's
``call:ended`` (and the acknowledgement of their own ``call:end`` or ``queue:leave``) carries
``privacy_key``, their one credential for erasure or export (``privacy.keys``); the adviser's
never does. The visitor's session stays marked as used: a visitor token is good for one call.

The transitions expect the caller to hold the organisation's lock (``signaling.live``);
``end`` and ``watch_media`` take it themselves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import webhooks
from db import SessionFactory
from db.outage import while_unreachable
from media.placement import MEDIA_NODE_LOST, MediaPlacement
from privacy import issue_privacy_key
from signaling import queries
from signaling.call_events import call_ended_payload
from signaling.errors import Conflict
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.models import CallStatus, TransferOutcome
from signaling.outbox import SessionId
from signaling.queue import Queue
from signaling.recording import RecordingControl
from signaling.ringing import Ringing
from signaling.state import Activity, CallState
from signaling.store import keys

logger = logging.getLogger(__name__)
# How long a call's end waits for the database to come back (under the organisation's lock).
FINISH_WAIT_SECONDS = 6.0


class FinishedHook(Protocol):
    def __call__(self, call: CallState, *, answered: bool, reason: str, now: float) -> None: ...


class Ending:
    """Ends calls and stops their recordings."""

    def __init__(
        self,
        *,
        live: LiveState,
        queue: Queue,
        ringing: Ringing,
        sessions: SessionFactory,
        media: MediaPlacement | None,
        recording: RecordingControl | None,
        clock: Callable[[], float],
        on_finished: FinishedHook | None = None,
    ) -> None:
        self._on_finished = on_finished
        self._live = live
        self._store = live.store
        self._queue = queue
        self._ringing = ringing
        self._sessions = sessions
        self._media = media
        self._recording = recording
        self._clock = clock

    async def end(self, session: SessionId, org_id: uuid.UUID) -> dict[str, Any]:
        """End the session's call: a waiting or ringing one is abandoned, an active one ended."""
        org = str(org_id)
        mail: Mail = []
        async with self._live.locked(org):
            call = await self._live.current_call(org, session)
            if call is None:
                raise Conflict("there is no call to end", code="no_call")
            # The adviser who transferred a call stays in it while the transfer rings.
            in_call = call.status == CallStatus.ACTIVE or call.transfer_from == session.subject
            if session.kind == "adviser" and not in_call:
                raise Conflict("decline a ringing call instead of ending it", code="not_active")
            reason = "visitor_ended" if session.kind == "visitor" else "adviser_ended"
            privacy_key = await self.finish(call, mail, reason=reason)
            await self._ringing.dispatch(org, mail)
        await self._live.deliver(mail)
        ack = {"call_id": call.id, "reference": call.reference}
        # The visitor may draw the ended screen from this ack before the event arrives.
        return {**ack, "privacy_key": privacy_key} if session.kind == "visitor" else ack

    async def watch_media(self, media: MediaPlacement) -> None:
        """End calls whose media ended by itself (a party closed its connection, ICE failed)."""
        async for call_id, reason in media.ended():
            if reason == MEDIA_NODE_LOST:
                await self._media_moved(call_id)
                continue
            try:
                call = await self._live.call(call_id)
                if call is None:
                    continue
                mail: Mail = []
                async with self._live.locked(call.org_id):
                    call = await self._live.call(call_id)
                    # Answered, even if it is being transferred now: the visitor left.
                    if call is not None and call.accepted_at:
                        await self.finish(call, mail, reason=reason)
                        await self._ringing.dispatch(call.org_id, mail)
                await self._live.deliver(mail)
            except Exception:
                logger.exception("could not end call %s after its media ended", call_id)

    async def _media_moved(self, call_id: str) -> None:
        """The call's media node died and the call was placed on another: the call goes on
        (same id, reference, chat and consent); a recording in progress ends its file on the
        dead node and goes on in a new one; both parties are told to offer afresh."""
        try:
            call = await self._live.call(call_id)
            if call is None:
                return
            mail: Mail = []
            async with self._live.locked(call.org_id):
                call = await self._live.call(call_id)
                if call is None or call.status != CallStatus.ACTIVE:
                    return
                if call.recording and self._recording is not None:
                    ids, call.recording = call.recording, {}
                    await self._live.save_call(call)
                    await self._recording.lost(ids)
                    try:
                        call.recording = await self._recording.start(call.id)
                    except Exception:
                        logger.exception("call %s: could not go on recording on its new media node", call_id)
                        state = {"active": False, "reason": MEDIA_NODE_LOST}
                        mail.append((visitor_session(call.visitor), "recording:state", state))
                        if call.adviser_id:
                            mail.append((adviser_session(call.adviser_id), "recording:state", state))
                    await self._live.save_call(call)
                event = {"call_id": call.id, "reason": MEDIA_NODE_LOST}
                mail.append((visitor_session(call.visitor), "media:renegotiate", event))
                if call.adviser_id:
                    mail.append((adviser_session(call.adviser_id), "media:renegotiate", event))
            await self._live.deliver(mail)
        except Exception:
            logger.exception("could not move call %s to a new media node", call_id)

    # -- transitions (caller holds the organisation's lock) --------------------------------

    async def finish(
        self, call: CallState, mail: Mail, *, reason: str, told_visitor: dict[str, Any] | None = None
    ) -> str:
        """End ``call`` for good: store the outcome, free the adviser, tell both sides
        (``told_visitor``: more for the visitor's ``call:ended``, such as ``retry_at``).
        Returns the visitor's privacy key (sent to the visitor only)."""
        now = self._clock()
        # A call being transferred (waiting or ringing again) was answered all the same.
        answered = call.status == CallStatus.ACTIVE or bool(call.accepted_at)
        outcome = CallStatus.ENDED if answered else CallStatus.ABANDONED
        org_id = call.org_id
        if call.recording:
            await self.stop_recording(call, mail, reason="call_ended")
        await self._ringing.clear(call)
        await self._queue.remove(call)
        await self._store.delete(keys.call(call.id))
        # The session stays marked as used: a visitor token is good for one call.
        await self._store.hset(
            keys.session(visitor_session(call.visitor).room), {"call_id": "", "ended": call.id}
        )

        async def store() -> str:
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
                key = await issue_privacy_key(db, uuid.UUID(call.id))
                if call.transfer_from:
                    await queries.resolve_transfer(db, uuid.UUID(call.id), TransferOutcome.CALL_ENDED)
                await db.commit()
                return key

        # The live call is gone already: a database restarting is waited for, within the
        # organisation's lock (10 s), so the outcome is not lost.
        privacy_key = await while_unreachable(store, seconds=FINISH_WAIT_SECONDS)
        if self._on_finished is not None:
            # Metrics and the lifecycle log line (signaling.metrics), once the outcome is stored.
            self._on_finished(call, answered=answered, reason=reason, now=now)
        ended = {"call_id": call.id, "reason": reason, "reference": call.reference}
        # The privacy key goes to the visitor's session only, never to the adviser's.
        told = {**ended, **(told_visitor or {}), "privacy_key": privacy_key}
        mail.append((visitor_session(call.visitor), "call:ended", told))
        if call.transfer_from:
            # Ended while its transfer rang: the transferring adviser was still in the call.
            await self._free(call, call.transfer_from, mail, ended, now)
        if call.adviser_id:
            adviser = await self._live.adviser(org_id, call.adviser_id)
            if adviser is not None and adviser.call_id == call.id:
                if call.status == CallStatus.ACTIVE:
                    mail.append((adviser_session(adviser.user_id), "call:ended", ended))
                    adviser.idle_since = now
                else:
                    mail.append(
                        (
                            adviser_session(adviser.user_id),
                            "call:withdrawn",
                            {"call_id": call.id, "reason": reason},
                        )
                    )
                adviser.activity, adviser.call_id = Activity.IDLE, ""
                await self._live.save_adviser(org_id, adviser)
        if answered:
            await self._queue.learn_handle_time(call.queue_id, now - call.accepted_at)
            if self._media is not None:
                await self._media.close_call(call.id)
        await self._queue.changed(org_id, mail)
        return privacy_key

    async def _free(
        self, call: CallState, user_id: str, mail: Mail, ended: dict[str, Any], now: float
    ) -> None:
        adviser = await self._live.adviser(call.org_id, user_id)
        if adviser is not None and adviser.call_id == call.id:
            mail.append((adviser_session(user_id), "call:ended", ended))
            adviser.activity, adviser.call_id, adviser.idle_since = Activity.IDLE, "", now
            await self._live.save_adviser(call.org_id, adviser)

    async def stop_recording(self, call: CallState, mail: Mail, *, reason: str) -> None:
        """Stop the call's recording and tell both parties why."""
        ids, call.recording = call.recording, {}
        await self._live.save_call(call)
        if self._recording is not None:
            await self._recording.stop(call.id, ids)
        state = {"active": False, "reason": reason}
        mail.append((visitor_session(call.visitor), "recording:state", state))
        if call.adviser_id:
            mail.append((adviser_session(call.adviser_id), "recording:state", state))
