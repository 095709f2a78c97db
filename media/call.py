"""``MediaCall``: two parties, the leg each has now, and the forwarders between them.

*Legs.* Each party has one leg (an aiortc ``RTCPeerConnection``) at a time; both exist from
the start, so either party may offer first. A party that offers again on the same transport
renegotiates its leg. A party that offers on another transport — new ICE credentials (an
ICE restart, RFC 8445 section 9) or a new DTLS fingerprint (a new ``RTCPeerConnection``,
as the widget and console make after a network change) — gets a fresh leg: aiortc's
``RTCIceTransport`` keeps the first remote credentials it was given, so the old leg could
never follow. The fresh leg answers; only when that succeeded does it take the old one's
place, so a bad offer leaves the call as it was.

*What follows the party.* Forwarders and recorders read a party through its
``_PartySource`` (one per kind), which moves to the new leg's inbound streams. The new
stream comes with a new SSRC and timeline, so the forwarder resumes at a keyframe, asking the
party for one (RFC 4585 section 6.3.1), and the other party keeps receiving one continuous
stream (the same SSRC, sequence numbers and timestamps going on: media/rtp_header.py's
``StreamMapper``); a recorder resumes at a keyframe too, its timestamps rising by wall-clock
time (media/rtp.py). What the other party sends is forwarded into the new leg by new
forwarders; once the new leg is connected, they ask the other party for a keyframe, so video
is back at once. The other party's leg is never touched, never renegotiated.

*Codecs.* Both legs are answered with the same video codec: the second leg to answer prefers
the video codec the first one was answered with (packets are forwarded, never transcoded).

*The end.* The replaced leg is closed in the background and its closing ends nothing. A leg
that *fails* (ICE consent lost, RFC 7675 section 5.1, or DTLS broke) gives its party
``config.rejoin_grace_s`` to offer again from a new connection; a leg closed by its party
(or here) ends the call at once. Either way ``on_ended(call, reason)`` is called once;
:meth:`close` is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from media import rtcp_packets as rtcp
from media.config import MediaConfig
from media.errors import LegClosedError
from media.forwarder import Forwarder
from media.frames import EncodedFrame
from media.leg import Leg
from media.rtp_header import RtpFields
from media.rtp_inbound import InboundRtp, PacketCallback, PacketSource, ReportCallback
from media.types import FrameCallback, MediaKind, Party

logger = logging.getLogger(__name__)

PARTIES: tuple[Party, Party] = ("visitor", "adviser")
_T = TypeVar("_T")
_KINDS: tuple[MediaKind, MediaKind] = ("audio", "video")


def _other(party: Party) -> Party:
    return "adviser" if party == "visitor" else "visitor"


class _PartySource:
    """What one party sends of one kind, from whichever leg carries it now: packets (a
    ``PacketSource``, for the forwarder) and frames (a ``FrameSource``, for a recorder).

    Subscribers stay subscribed here across leg replacements; :meth:`switch` moves the source
    to the new leg's inbound stream. Frames are only asked of the stream (which then runs a
    depacketizer) while someone subscribes to them.
    """

    def __init__(self, stream: InboundRtp) -> None:
        self.kind = stream.kind
        self._packets: list[PacketCallback] = []
        self._reports: list[ReportCallback] = []
        self._frames: list[FrameCallback] = []
        self._stream = stream
        self._unsubscribe: list[Callable[[], None]] = []
        self._attach()

    def subscribe_packets(self, callback: PacketCallback) -> Callable[[], None]:
        return self._add(self._packets, callback)

    def subscribe_reports(self, callback: ReportCallback) -> Callable[[], None]:
        return self._add(self._reports, callback)

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        unsubscribe = self._add(self._frames, callback)
        self._attach()  # the stream depacketizes while frames are wanted

        def unsubscribe_frames() -> None:
            unsubscribe()
            self._attach()

        return unsubscribe_frames

    def request_keyframe(self) -> None:
        self._stream.request_keyframe()

    def send_remb(self, bitrate: int) -> None:
        self._stream.send_remb(bitrate)

    def switch(self, stream: InboundRtp) -> None:
        """Take packets from ``stream`` from now on, and none from the previous one."""
        self._stream = stream
        self._attach()

    def _add(self, subscribers: list[_T], callback: _T) -> Callable[[], None]:
        subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)

        return unsubscribe

    def _attach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        stream = self._stream
        self._unsubscribe = [
            stream.subscribe_packets(self._on_packet),
            stream.subscribe_reports(self._on_report),
        ]
        if self._frames:
            self._unsubscribe.append(stream.subscribe(self._on_frame))

    def _on_packet(self, stream: InboundRtp, data: bytes, fields: RtpFields, now: float) -> None:
        for callback in self._packets:
            try:
                callback(stream, data, fields, now)
            except Exception:
                logger.exception("%s packet subscriber failed", self.kind)

    def _on_report(self, stream: InboundRtp, report: rtcp.SenderReport) -> None:
        for callback in list(self._reports):
            callback(stream, report)

    def _on_frame(self, frame: EncodedFrame) -> None:
        for callback in list(self._frames):
            try:
                callback(frame)
            except Exception:
                logger.exception("%s frame subscriber failed", self.kind)


class MediaCall:
    """A 1:1 call relayed by this process: a visitor leg, an adviser leg, four forwarders.

    Offer through :meth:`answer` and trickle through :meth:`add_candidate`: they replace a
    party's leg when its offer comes from another transport (see the module docstring).
    :meth:`leg` is the party's leg now; :meth:`source` what the party sends, whichever leg
    carries it (what a recorder should read).
    """

    def __init__(
        self,
        *,
        config: MediaConfig,
        call_id: str = "",
        on_ended: Callable[[MediaCall, str], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self._config = config
        self._on_ended = on_ended
        self._legs: dict[Party, Leg] = {party: self._new_leg(party) for party in PARTIES}
        self._sources: dict[tuple[Party, MediaKind], _PartySource] = {
            (party, kind): _PartySource(self._legs[party].inbound[kind])
            for party in PARTIES
            for kind in _KINDS
        }
        # Keyed by the sending party: (visitor, video) feeds the adviser's video sender.
        self._forwarders: dict[tuple[Party, MediaKind], Forwarder] = {
            (party, kind): self._forwarder(party, kind) for party in PARTIES for kind in _KINDS
        }
        for forwarder in self._forwarders.values():
            forwarder.start()
        self._locks: dict[Party, asyncio.Lock] = {party: asyncio.Lock() for party in PARTIES}
        self._grace: dict[Party, asyncio.TimerHandle] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self.replacements: dict[Party, int] = dict.fromkeys(PARTIES, 0)
        self._close_task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._end_reason = "closed"

    @property
    def forwarders(self) -> list[Forwarder]:
        """The four forwarders running now (a replaced leg gets new ones into it)."""
        return list(self._forwarders.values())

    def leg(self, party: Party) -> Leg:
        """The current leg of ``party`` ("visitor" or "adviser")."""
        return self._legs[party]

    def source(self, party: Party, kind: MediaKind) -> _PartySource:
        """What ``party`` sends of ``kind``, from whichever leg carries it now (packets, and
        frames for a recorder)."""
        return self._sources[(party, kind)]

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    async def answer(self, party: Party, sdp: str, sdp_type: str = "offer") -> tuple[str, str]:
        """Apply ``party``'s offer and return the answer as ``(sdp, type)``.

        On the party's leg when the offer keeps its transport (or is the first); otherwise
        on a fresh leg that replaces it.
        """
        async with self._locks[party]:
            if self.closed:
                raise LegClosedError("this call's media is closed")
            leg = self._legs[party]
            prefer_video = self._legs[_other(party)].negotiated_video()
            if not leg.closed and not leg.is_new_transport(sdp):
                return await leg.answer(sdp, sdp_type, prefer_video=prefer_video)
            fresh = self._new_leg(party)
            try:
                answer = await fresh.answer(sdp, sdp_type, prefer_video=prefer_video)
                if self.closed:
                    raise LegClosedError("this call's media is closed")
            except BaseException:
                # Not plugged in: closing it ends nothing, and the old leg goes on.
                await fresh.close()
                raise
            self._replace(party, fresh)
            return answer

    async def release(self, party: Party) -> None:
        """Let ``party``'s current leg go and give the party a fresh, unanswered one, as when a
        call is transferred to another adviser: the old leg is retired (its closing ends
        nothing), the other party's leg is untouched, and whoever offers next as ``party``
        (the new adviser) is answered on the fresh leg."""
        async with self._locks[party]:
            if self.closed:
                return
            self._replace(party, self._new_leg(party))

    async def add_candidate(
        self,
        party: Party,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> bool:
        """Add a trickled candidate to the party's leg (after any offer being applied)."""
        async with self._locks[party]:
            return await self._legs[party].add_ice_candidate(candidate, sdp_mid, sdp_mline_index)

    async def close(self, reason: str = "closed") -> None:
        """Close both legs and stop forwarding. Idempotent."""
        if self._close_task is None:
            self._end_reason = reason
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._close_task)

    async def wait_closed(self) -> None:
        """Wait until the call has been closed (by :meth:`close` or a leg ending)."""
        await self._ended.wait()

    def _new_leg(self, party: Party) -> Leg:
        return Leg(config=self._config, label=f"{self.call_id}/{party}", on_closed=self._on_leg_closed)

    def _forwarder(self, sender: Party, kind: MediaKind) -> Forwarder:
        sink = self._legs[_other(sender)].outbound[kind]
        source: PacketSource = self._sources[(sender, kind)]
        return Forwarder(source, sink, keyframe_retry_s=self._config.keyframe_retry_s)

    def _replace(self, party: Party, fresh: Leg) -> None:
        """Plug ``fresh`` in where the party's leg was; no await, so no frame falls between."""
        old = self._legs[party]
        self._legs[party] = fresh
        self.replacements[party] += 1
        grace = self._grace.pop(party, None)
        if grace is not None:
            grace.cancel()
        for kind in _KINDS:
            self._sources[(party, kind)].switch(fresh.inbound[kind])
            # The other party's media into the new leg's senders. The new forwarder asks the
            # other party for a keyframe as soon as the new sender starts reading.
            sender = _other(party)
            self._forwarders[(sender, kind)].stop()
            forwarder = self._forwarders[(sender, kind)] = self._forwarder(sender, kind)
            forwarder.start()
        logger.info("call %s: the %s's leg was replaced", self.call_id, party)
        task = asyncio.get_running_loop().create_task(old.close(), name=f"retire {old.label}")
        self._retiring.add(task)
        task.add_done_callback(self._retired)

    def _retired(self, task: asyncio.Task[None]) -> None:
        self._retiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call %s: closing a replaced leg failed", self.call_id, exc_info=task.exception())

    def _on_leg_closed(self, leg: Leg) -> None:
        if self._close_task is not None:
            return
        party = next((p for p, current in self._legs.items() if current is leg), None)
        if party is None:
            return  # a replaced leg, or a fresh one that never took over: ends nothing
        if leg.failed and self._config.rejoin_grace_s > 0:
            # The network went away under the party; its client offers again from a new
            # connection (RFC 8445 section 9) once it notices. Wait for that, a while.
            logger.info("call %s: the %s's connection failed; waiting for a new one", self.call_id, party)
            self._grace[party] = asyncio.get_running_loop().call_later(
                self._config.rejoin_grace_s, self._grace_over, party, leg
            )
            return
        self._end(f"{party}_left")

    def _grace_over(self, party: Party, leg: Leg) -> None:
        self._grace.pop(party, None)
        if self._close_task is None and self._legs[party] is leg:
            self._end(f"{party}_left")

    def _end(self, reason: str) -> None:
        self._end_reason = reason
        self._close_task = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        for grace in self._grace.values():
            grace.cancel()
        self._grace.clear()
        for forwarder in self._forwarders.values():
            forwarder.stop()
        try:
            await asyncio.gather(*(leg.close() for leg in self._legs.values()))
            # Replaced legs still closing; _retired logs how each went.
            await asyncio.gather(*self._retiring, return_exceptions=True)
        finally:
            self._ended.set()
            if self._on_ended is not None:
                try:
                    self._on_ended(self, self._end_reason)
                except Exception:
                    logger.exception("call %s: on_ended handler failed", self.call_id)
