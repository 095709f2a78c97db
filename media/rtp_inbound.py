"""``InboundRtp``: what the party of one leg sends us of one kind (its ``OutboundRtp``,
``media.rtp_outbound``, is what we send it). An ``RtpSession`` (``media.rtp_session``) owns
them and hands them the decrypted packets and RTCP of its leg.

Reception (RFC 3550 appendix A.1, A.3, A.8): sequence numbers are extended past the 16-bit
wrap to count what was expected, lost and received, and the interarrival jitter is kept, for
our receiver reports. A gap in a stream that negotiated NACK is asked for at once (a generic
NACK, RFC 4585 section 6.2.1), again after ``NACK_RETRY_S`` up to ``NACK_TRIES`` times; what
is still missing after ``NACK_GIVE_UP_S`` is given up, and for video a keyframe is asked for
(the frames that follow reference the lost one). A packet that fills a gap (late, or
retransmitted on the RTX stream, RFC 4588) is forwarded like any other: its outbound sequence
number is the one its original would have had. Keyframe requests (PLI) are coalesced to one
per ``pli_min_interval_s``. Subscribers get each packet; a recorder's frames come from a
:class:`~media.depacketizer.Depacketizer` that runs only while a recorder subscribes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from media import _aiortc_hooks as hooks
from media import rtcp_packets as rtcp
from media.depacketizer import AssembledFrame, Depacketizer
from media.frames import EncodedFrame, is_complete, is_keyframe
from media.rtp_header import MalformedPacket, RtpFields, unwrap_rtx_fields
from media.rtp_link import RtpLink
from media.rtp_params import StreamParameters
from media.types import FrameCallback

logger = logging.getLogger(__name__)

NACK_RETRY_S = 0.08  # about a round trip (libwebrtc waits its RTT estimate, 100 ms by default)
NACK_TRIES = 5
NACK_GIVE_UP_S = 0.8
_MAX_GAP = 300  # a jump further than this is a new start, not loss worth NACKing
# More packets than this missing at once is an overloaded path, not a few lost: asking for
# them all would only add load (the sender's history is shorter anyway); a keyframe is cheaper.
_MAX_MISSING = 100

PacketCallback = Callable[["InboundRtp", bytes, RtpFields, float], None]
ReportCallback = Callable[["InboundRtp", rtcp.SenderReport], None]


class PacketSource(Protocol):
    """Where one party's RTP packets of one kind come from (an ``InboundRtp``, or the
    ``MediaCall``'s source that follows the party across leg replacements)."""

    kind: str

    def subscribe_packets(self, callback: PacketCallback) -> Callable[[], None]:
        """Call ``callback(stream, data, fields, now)`` with every packet."""

    def subscribe_reports(self, callback: ReportCallback) -> Callable[[], None]:
        """Call ``callback(stream, report)`` with every sender report of the party."""

    def request_keyframe(self) -> None:
        """Ask the sending party for a keyframe."""

    def send_remb(self, bitrate: int) -> None:
        """Tell the sending party the most it should send."""


class InboundRtp:
    """What the party of one leg sends of one kind (see the module docstring)."""

    def __init__(self, kind: str, session: RtpLink, *, pli_min_interval_s: float = 0.2) -> None:
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind {kind!r}")
        self.kind = kind
        self.params: StreamParameters | None = None
        self.ssrc: int | None = None
        self._session = session
        self._pli_min_interval_s = pli_min_interval_s
        self._clock_rate = 90000 if kind == "video" else 48000  # for the jitter (RTP units)
        self._nack = False
        self._packet_subscribers: list[PacketCallback] = []
        self._report_subscribers: list[ReportCallback] = []
        self._frame_subscribers: list[FrameCallback] = []
        self._assembler: Depacketizer | hooks.FrameAssembler | None = None
        self._primary_payload_type: int | None = None
        self._last_frame: tuple[int, int] | None = None  # (ssrc, last sequence) for discontinuity
        self._pli_handle: asyncio.TimerHandle | None = None
        self._last_pli_at: float | None = None
        self._closed = False
        # Reception statistics of the current stream (RFC 3550 appendix A.1, A.3, A.8).
        self._base = self._highest = 0
        self.received = 0
        self._expected_prior = self._received_prior = 0
        self._transit: float | None = None
        self.jitter = 0.0
        self._lsr = 0
        self._lsr_at = 0.0
        self._missing: dict[int, list[float]] = {}  # extended sequence -> [first seen, last NACK, tries]
        self._next_retry_at = 0.0
        # Counters.
        self.packets_received = 0
        self.retransmissions_received = 0
        self.recovered = 0
        self.unrecovered = 0
        self.nacks_sent = 0
        self.keyframe_requests_sent = 0
        self.frames_received = 0

    # --- configuration and subscriptions ---------------------------------------------------

    def configure(self, params: StreamParameters) -> None:
        self.params = params
        self._nack = params.has_feedback("nack")
        primary = params.primary
        self._primary_payload_type = primary.payload_type if primary is not None else None
        self._assembler = None  # the next frame subscriber's packets use the new codec

    def subscribe_packets(self, callback: PacketCallback) -> Callable[[], None]:
        self._packet_subscribers.append(callback)
        return lambda: (
            self._packet_subscribers.remove(callback) if callback in self._packet_subscribers else None
        )

    def subscribe_reports(self, callback: ReportCallback) -> Callable[[], None]:
        self._report_subscribers.append(callback)
        return lambda: (
            self._report_subscribers.remove(callback) if callback in self._report_subscribers else None
        )

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        """Encoded frames (a ``FrameSource``, for recorders): a depacketizer runs meanwhile."""
        self._frame_subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._frame_subscribers:
                self._frame_subscribers.remove(callback)
            if not self._frame_subscribers:
                self._assembler = None

        return unsubscribe

    @property
    def depacketizing(self) -> bool:
        return self._assembler is not None

    # --- packets ----------------------------------------------------------------------------

    def receive(self, data: bytes, fields: RtpFields, now: float, *, rtx_for: int | None) -> None:
        """One decrypted packet of this stream (``rtx_for``: an RTX packet for that payload type)."""
        params = self.params
        assert params is not None
        if params.remote_ssrcs and fields.ssrc not in params.remote_ssrcs:
            self._session.drop("unknown_ssrc")
            return
        if rtx_for is not None:
            if fields.payload_end == fields.ext_end:
                # Padding only: a browser probing bandwidth on its RTX stream. Nothing to forward.
                self._session.drop("padding_only")
                return
            if self.ssrc is None:
                self._session.drop("rtx_before_media")
                return
            try:
                data, fields = unwrap_rtx_fields(data, fields, payload_type=rtx_for, ssrc=self.ssrc)
            except MalformedPacket as exc:
                self._session.drop(exc.reason)
                return
            self.retransmissions_received += 1
        elif fields.ssrc != self.ssrc:
            self._new_stream(fields)
        highest = self._highest
        if (fields.sequence - highest) & 0xFFFF == 1:
            # The next packet in order, as most are: what _count does for it, written out.
            self._highest = highest + 1
            transit = now * self._clock_rate - fields.timestamp
            if self._transit is not None:
                self.jitter += (abs(transit - self._transit) - self.jitter) / 16
            self._transit = transit
            self.received += 1
        elif not self._count(fields, now):
            return
        self.packets_received += 1
        for callback in self._packet_subscribers:
            callback(self, data, fields, now)
        if self._frame_subscribers:
            self._assemble(data, fields)
        if self._missing and now >= self._next_retry_at:
            self._retry_nacks(now)

    def _new_stream(self, fields: RtpFields) -> None:
        self.ssrc = fields.ssrc
        self._base = self._highest = (fields.sequence - 1) & 0xFFFF
        self.received = self._expected_prior = self._received_prior = 0
        self._transit = None
        self.jitter = 0.0
        self._missing.clear()

    def _count(self, fields: RtpFields, now: float) -> bool:
        """Update the statistics; whether the packet is to be forwarded (not a duplicate)."""
        ahead = (fields.sequence - self._highest) & 0xFFFF
        if ahead == 0:
            return False
        if ahead < 0x8000:
            extended = self._highest + ahead
            if ahead > 1 and self._nack:
                if ahead > _MAX_GAP:
                    self.unrecovered += ahead - 1
                    self._request_keyframe_after_loss()
                else:
                    self._ask_for(range(self._highest + 1, extended), now)
            self._highest = extended
            transit = now * self._clock_rate - fields.timestamp
            if self._transit is not None:
                self.jitter += (abs(transit - self._transit) - self.jitter) / 16
            self._transit = transit
        else:
            extended = self._highest - (0x10000 - ahead)
            if self._nack:
                if self._missing.pop(extended, None) is None:
                    return False  # a duplicate, or older than anything we still wait for
                self.recovered += 1
        self.received += 1
        return True

    def _ask_for(self, missing: range, now: float) -> None:
        if len(self._missing) + len(missing) > _MAX_MISSING:
            self.unrecovered += len(self._missing) + len(missing)
            self._missing.clear()
            self._request_keyframe_after_loss()
            return
        for extended in missing:
            self._missing[extended] = [now, now, 1.0]
        self._send_nack(list(missing))
        self._next_retry_at = now + NACK_RETRY_S

    def _retry_nacks(self, now: float) -> None:
        again = []
        for extended, state in list(self._missing.items()):
            first, last, tries = state
            if now - first > NACK_GIVE_UP_S or tries >= NACK_TRIES:
                del self._missing[extended]
                self.unrecovered += 1
                self._request_keyframe_after_loss()
            elif now - last >= NACK_RETRY_S:
                state[1], state[2] = now, tries + 1
                again.append(extended)
        if again:
            self._send_nack(again)
        self._next_retry_at = now + NACK_RETRY_S

    def _send_nack(self, extended: list[int]) -> None:
        if self.params is None or self.ssrc is None:
            return
        self.nacks_sent += 1
        sequences = [e & 0xFFFF for e in extended]
        self._session.send_rtcp(rtcp.nack(self.params.local_ssrc, self.ssrc, sequences))

    def _request_keyframe_after_loss(self) -> None:
        if self.kind == "video":
            self.request_keyframe()

    # --- RTCP -------------------------------------------------------------------------------

    def on_sender_report(self, report: rtcp.SenderReport, now: float) -> None:
        self._lsr = (report.ntp >> 16) & 0xFFFFFFFF
        self._lsr_at = now
        for callback in list(self._report_subscribers):
            callback(self, report)

    @property
    def lost(self) -> int:
        """Packets of the current stream that never arrived (RFC 3550 appendix A.3)."""
        return max(0, self._highest - self._base - self.received) if self.ssrc is not None else 0

    def report_block(self, now: float) -> rtcp.ReportBlock | None:
        """This stream's reception report (RFC 3550 section 6.4.1), or ``None`` before any packet."""
        if self.ssrc is None or self.received == 0:
            return None
        expected = self._highest - self._base
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        )
        return rtcp.ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            packets_lost=expected - self.received,
            highest_sequence=self._highest & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=self._lsr,
            dlsr=int((now - self._lsr_at) * 65536) if self._lsr else 0,
        )

    def request_keyframe(self) -> None:
        """Ask the party for a keyframe (PLI, RFC 4585 section 6.3.1); video only, coalesced."""
        if self.kind != "video" or self._closed or self._pli_handle is not None:
            return
        now = self._session.clock()
        wait = 0.0 if self._last_pli_at is None else self._last_pli_at + self._pli_min_interval_s - now
        if wait <= 0:
            self._send_pli()
        else:
            self._pli_handle = asyncio.get_running_loop().call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._pli_handle = None
        if self._closed or self.params is None or self.ssrc is None:
            return  # nothing received yet: a sender's first frame is a keyframe anyway
        self._last_pli_at = self._session.clock()
        self.keyframe_requests_sent += 1
        self._session.send_rtcp(rtcp.pli(self.params.local_ssrc, self.ssrc))

    def send_remb(self, bitrate: int) -> None:
        """Tell the party the most it should send (REMB), when its answer allowed goog-remb."""
        if self.params is None or self.ssrc is None or not self.params.has_feedback("goog-remb"):
            return
        ssrcs = self._session.inbound_ssrcs()
        self._session.send_rtcp(rtcp.remb(self.params.local_ssrc, bitrate, ssrcs))

    def close(self) -> None:
        self._closed = True
        self._packet_subscribers.clear()
        self._report_subscribers.clear()
        self._frame_subscribers.clear()
        self._assembler = None
        if self._pli_handle is not None:
            self._pli_handle.cancel()
            self._pli_handle = None

    # --- frames for recorders ---------------------------------------------------------------

    def _assemble(self, data: bytes, fields: RtpFields) -> None:
        assembler = self._assembler
        if assembler is None:
            codec = self.params.primary if self.params is not None else None
            if codec is None:
                return
            if codec.mime_type.lower() in Depacketizer.SUPPORTED:
                assembler = Depacketizer(codec.mime_type, codec.clock_rate, self._on_frame)
            else:
                assembler = hooks.FrameAssembler(self.kind, codec, self._on_frame)
            self._assembler = assembler
        if fields.payload_type == self._primary_payload_type:
            assembler.feed(data, fields)

    def _on_frame(self, received: AssembledFrame) -> None:
        previous = self._last_frame
        discontinuity = (
            previous is None
            or received.ssrc != previous[0]
            or received.first_sequence != (previous[1] + 1) & 0xFFFF
        )
        self._last_frame = (received.ssrc, received.last_sequence)
        self.frames_received += 1
        frame = EncodedFrame(
            kind=self.kind,
            mime_type=received.mime_type,
            clock_rate=received.clock_rate,
            data=received.data,
            timestamp=received.timestamp,
            keyframe=is_keyframe(received.mime_type, received.data),
            discontinuity=discontinuity,
            complete=is_complete(received.mime_type, received.data),
        )
        for callback in list(self._frame_subscribers):
            try:
                callback(frame)
            except Exception:
                logger.exception("inbound %s frame subscriber failed", self.kind)
