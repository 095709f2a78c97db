"""socket.io namespaces ``/visitor`` and ``/adviser``.

After every (re)connection a client sends ``session:resume {last_seq}`` (0 the first
time): the ack carries its current state and the events it missed are replayed.

Every client→server event goes through one path: size check, pydantic validation, the
handler, and an acknowledgement ``{ok: true, ...}`` or ``{ok: false, error: {code,
message}}``. Unknown events and bad payloads get an error ack; nothing a client sends can
close another session's connection or leak a stack trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from accounts.addresses import Forwarding
from accounts.models import CALL_TAKING_ROLES
from accounts.sessions import StaffSessions
from accounts.tokens import StaffClaims, TokenService, VisitorClaims
from db import LoketError
from signaling.chat import Chat
from signaling.errors import Forbidden, InvalidInput, PayloadTooLarge, Unauthenticated
from signaling.guarded_packet import MALFORMED_EVENT
from signaling.metrics import Metrics
from signaling.outbox import Outbox, SessionId
from signaling.payloads import (
    CallAccept,
    CallDecline,
    CallTransfer,
    ChatSend,
    ConsentSet,
    Empty,
    PresenceSet,
    QueueJoin,
    RtcCandidate,
    RtcOffer,
    SessionResume,
    describe_validation_error,
)
from signaling.staff_watch import StaffWatch
from signaling.state import Presence
from signaling.switchboard import Switchboard

logger = logging.getLogger(__name__)

Ack = dict[str, Any]
# (sid, claims, validated payload) -> ack fields
Handler = Callable[[str, Any, Any], Awaitable[Ack]]


def _ok(result: dict[str, Any] | None = None) -> Ack:
    return {"ok": True, **(result or {})}


def _error(exc: LoketError) -> Ack:
    return {"ok": False, "error": exc.to_dict()}


def _refused(exc: LoketError) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: the client's ``connect_error`` carries ``{code, message}`` as
    its ``data`` (socket.io-client's ``error.data``), the message as its ``message``."""
    return socketio.exceptions.ConnectionRefusedError(exc.message, exc.to_dict())


class _Namespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Shared dispatch; subclasses list their events as ``name -> (model, handler)``."""

    kind = ""

    def __init__(
        self,
        *,
        switchboard: Switchboard,
        chat: Chat,
        outbox: Outbox,
        tokens: TokenService,
        metrics: Metrics,
        max_payload_bytes: int,
        forwarding: Forwarding | None = None,
    ) -> None:
        super().__init__(f"/{self.kind}")
        self.forwarding = forwarding or Forwarding()
        self.switchboard = switchboard
        self.chat = chat
        self.outbox = outbox
        self.tokens = tokens
        self.metrics = metrics
        self.max_payload_bytes = max_payload_bytes

    def events(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        raise NotImplementedError

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            sid, environ, auth = (*args, None)[:3]
            return await self._connect(sid, auth, environ)
        if event == "disconnect":
            return await self._disconnect(args[0])
        sid, payload = args[0], (args[1] if len(args) > 1 else None)
        ack = await self._handle(sid, event, payload)
        self.metrics.socket_events.labels(self.namespace, str(ack["ok"]).lower()).inc()
        return ack

    async def _handle(self, sid: str, event: str, payload: Any) -> Ack:
        try:
            size = len(json.dumps(payload, separators=(",", ":")))
        except (TypeError, ValueError):
            size = self.max_payload_bytes + 1  # binary attachments are never expected
        try:
            if size > self.max_payload_bytes:
                raise PayloadTooLarge(f"payloads are limited to {self.max_payload_bytes} bytes")
            if event == MALFORMED_EVENT:
                reason = payload.get("reason") if isinstance(payload, dict) else None
                raise InvalidInput(f"malformed packet: {reason}", code="malformed_packet")
            known = self.events()
            if event not in known:
                raise InvalidInput(f"unknown event {event[:50]!r}", code="unknown_event")
            model, handler = known[event]
            try:
                data = model.model_validate({} if payload is None else payload)
            except ValidationError as exc:
                raise InvalidInput(describe_validation_error(exc)) from exc
            stored = await self.get_session(sid)
            claims = stored["claims"]
            await self.still_allowed(sid, claims, stored.get("connected_at", 0.0))
            return _ok(await handler(sid, claims, data))
        except LoketError as exc:
            return _error(exc)
        except Exception:
            logger.exception("socket event %s on %s failed", event[:50], self.namespace)
            return _error(LoketError("something went wrong on our side", code="internal_error", status=500))

    async def _connect(self, sid: str, auth: Any, environ: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise _refused(LoketError("send auth {token}", code="unauthenticated", status=401))
        connected_at = time.time()
        try:
            claims = await self.admit(self.authenticate(token), environ)
        except LoketError as exc:
            raise _refused(exc) from exc
        # Join the session's room first so nothing sent while attaching is lost; events
        # sent before the connection is acknowledged are recovered by session:resume.
        await self.enter_room(sid, self.session_of(claims).room)
        try:
            await self.attach(claims)
        except LoketError as exc:
            await self.leave_room(sid, self.session_of(claims).room)
            raise _refused(exc) from exc
        await self.save_session(sid, {"claims": claims, "connected_at": connected_at})
        self.connected(sid, claims)
        self.metrics.socket_connections.labels(self.namespace).inc()
        await self.recheck(sid, claims, connected_at)

    async def _disconnect(self, sid: str) -> None:
        stored = await self.get_session(sid)
        if "claims" not in stored:
            return
        self.metrics.socket_connections.labels(self.namespace).dec()
        self.disconnected(sid)
        await self.detach(stored["claims"])

    async def resume(self, sid: str, claims: Any, data: SessionResume) -> Ack:
        """Replay what the session missed (by ``seq``) and describe where it stands now."""
        session = self.session_of(claims)
        missed = await self.outbox.missed(session, data.last_seq)
        if missed is None:
            raise LoketError(
                "some events are no longer kept; reload the state", code="resume_gap", status=409
            )
        for event, payload in missed:
            await self.emit(event, payload, to=sid)
        state = await self.switchboard.state_of(session, claims.org_id)
        return {"replayed": len(missed), **state}

    def authenticate(self, token: str) -> Any:
        raise NotImplementedError

    async def admit(self, claims: Any, environ: Any) -> Any:
        """The claims a connection goes on with (after checks beyond the token's own)."""
        return claims

    async def still_allowed(self, sid: str, claims: Any, connected_at: float) -> None:
        """Raise when the connection may no longer act (checked before every event)."""

    def connected(self, sid: str, claims: Any) -> None:
        """A connection was accepted."""

    async def recheck(self, sid: str, claims: Any, connected_at: float) -> None:
        """Once accepted: what may have changed while the connection was being admitted."""

    def disconnected(self, sid: str) -> None:
        """An accepted connection is gone."""

    def client_address(self, environ: Any) -> str:
        """The caller's address (``accounts.addresses``), from the HTTP request that opened
        the connection."""
        request = environ.get("aiohttp.request") if isinstance(environ, dict) else None
        if request is None:
            return "0.0.0.0"  # noqa: S104 - no request known: an address no allowlist holds
        return self.forwarding.client(request.remote, request.headers.getall(self.forwarding.header, []))

    async def attach(self, claims: Any) -> None:
        raise NotImplementedError

    async def detach(self, claims: Any) -> None:
        raise NotImplementedError

    def session_of(self, claims: Any) -> SessionId:
        raise NotImplementedError

    def call_events(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        """``rtc:offer``, ``rtc:candidate`` and ``chat:send``, the same for both parties."""
        board = self.switchboard

        async def chat(_sid: str, claims: Any, data: ChatSend) -> Ack:
            return await self.chat.send(self.session_of(claims), claims.org_id, data.text)

        async def offer(_sid: str, claims: Any, data: RtcOffer) -> Ack:
            return await board.rtc_offer(self.session_of(claims), claims.org_id, data.sdp, data.type)

        async def candidate(_sid: str, claims: Any, data: RtcCandidate) -> Ack:
            return await board.rtc_candidate(
                self.session_of(claims), claims.org_id, data.candidate, data.sdpMid, data.sdpMLineIndex
            )

        return {
            "rtc:offer": (RtcOffer, offer),
            "rtc:candidate": (RtcCandidate, candidate),
            "chat:send": (ChatSend, chat),
        }


class VisitorNamespace(_Namespace):
    kind = "visitor"

    def authenticate(self, token: str) -> VisitorClaims:
        return self.tokens.verify_visitor(token)

    async def attach(self, claims: VisitorClaims) -> None:
        await self.switchboard.visitor_connected(claims)

    async def detach(self, claims: VisitorClaims) -> None:
        await self.switchboard.visitor_disconnected(claims)

    def session_of(self, claims: VisitorClaims) -> SessionId:
        return SessionId("visitor", claims.visitor_id)

    def events(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        board = self.switchboard

        async def join(_sid: str, claims: VisitorClaims, data: QueueJoin) -> Ack:
            return await board.join(claims, data.queue_id, data.language)

        async def leave(_sid: str, claims: VisitorClaims, _data: Empty) -> Ack:
            return await board.leave(claims)

        async def end(_sid: str, claims: VisitorClaims, _data: Empty) -> Ack:
            return await board.end(self.session_of(claims), claims.org_id)

        async def consent(_sid: str, claims: VisitorClaims, data: ConsentSet) -> Ack:
            return await board.set_consent(
                claims, data.recording, data.text_id, data.language, data.text_sha256
            )

        return {
            "queue:join": (QueueJoin, join),
            "consent:set": (ConsentSet, consent),
            "queue:leave": (Empty, leave),
            "call:end": (Empty, end),
            "session:resume": (SessionResume, self.resume),
            **self.call_events(),
        }


class AdviserNamespace(_Namespace):
    """Staff sockets. Each connect is admitted as a REST request is (the account as it is
    now, its login not logged out, its location's allowlist); each event checks the session
    was not cut since; ``StaffWatch`` closes the socket when it is, or when its token expires."""

    kind = "adviser"

    def __init__(self, *, staff_sessions: StaffSessions, staff_watch: StaffWatch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.staff_sessions = staff_sessions
        self.staff_watch = staff_watch
        staff_watch.bind(self._close)

    def authenticate(self, token: str) -> StaffClaims:
        return self.tokens.verify_staff(token)

    async def admit(self, claims: StaffClaims, environ: Any) -> StaffClaims:
        current = await self.staff_sessions.admit(claims, self.client_address(environ))
        if current.role not in CALL_TAKING_ROLES:
            raise Forbidden("your role does not take calls", code="forbidden")
        return current

    async def still_allowed(self, sid: str, claims: StaffClaims, connected_at: float) -> None:
        if not await self.staff_sessions.still_valid(claims, connected_at):
            # Closed by the watch within a second, after this refusal is acknowledged.
            self.staff_watch.expire_now(sid)
            raise Unauthenticated("your session has ended; log in again", code="session_revoked")

    def connected(self, sid: str, claims: StaffClaims) -> None:
        self.staff_watch.track(sid, claims)

    async def recheck(self, sid: str, claims: StaffClaims, connected_at: float) -> None:
        # A cut published while this connection was being admitted found no socket to close.
        if not await self.staff_sessions.still_valid(claims, connected_at):
            self.staff_watch.expire_now(sid)

    def disconnected(self, sid: str) -> None:
        self.staff_watch.forget(sid)

    async def _close(self, sid: str) -> None:
        await self.disconnect(sid)

    async def attach(self, claims: StaffClaims) -> None:
        await self.switchboard.adviser_connected(claims)

    async def detach(self, claims: StaffClaims) -> None:
        await self.switchboard.adviser_disconnected(claims)

    def session_of(self, claims: StaffClaims) -> SessionId:
        return SessionId("adviser", str(claims.user_id))

    def events(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        board = self.switchboard

        async def presence(_sid: str, claims: StaffClaims, data: PresenceSet) -> Ack:
            return await board.set_presence(claims, Presence(data.status))

        async def accept(_sid: str, claims: StaffClaims, data: CallAccept) -> Ack:
            return await board.accept(claims, str(data.call_id))

        async def decline(_sid: str, claims: StaffClaims, data: CallDecline) -> Ack:
            return await board.decline(claims, str(data.call_id) if data.call_id else None)

        async def end(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.end(self.session_of(claims), claims.org_id)

        async def record(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.start_recording(claims)

        async def stop_recording(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.stop_recording(claims)

        async def transfer(_sid: str, claims: StaffClaims, data: CallTransfer) -> Ack:
            return await board.transfer(
                claims, queue_id=data.queue_id, adviser_id=data.adviser_id, note=data.note
            )

        async def targets(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.transfer_targets(claims)

        async def share_start(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.share_screen(claims, True)

        async def share_stop(_sid: str, claims: StaffClaims, _data: Empty) -> Ack:
            return await board.share_screen(claims, False)

        return {
            "recording:start": (Empty, record),
            "recording:stop": (Empty, stop_recording),
            "presence:set": (PresenceSet, presence),
            "call:accept": (CallAccept, accept),
            "call:decline": (CallDecline, decline),
            "call:end": (Empty, end),
            "call:transfer": (CallTransfer, transfer),
            "transfer:targets": (Empty, targets),
            "share:start": (Empty, share_start),
            "share:stop": (Empty, share_stop),
            "session:resume": (SessionResume, self.resume),
            **self.call_events(),
        }
