"""``RtpSession``: one leg's RTP and RTCP, below aiortc, terminated here.

Every packet the leg's DTLS transport decrypts comes here as bytes
(:class:`~media._aiortc_hooks.SrtpEndpoint`). RTP is routed by payload type to the inbound
stream of its kind (an RTX payload type to the stream it retransmits); RTCP is read and acted
on: the party's sender reports go to its inbound stream (lip sync, our receiver reports),
PLI/FIR/NACK/REMB for what we send go to the outbound stream they name. Nothing reaches
aiortc's own receivers and senders, which never start (``bypass_rtp_stack``).

Malformed packets (truncated, not version 2, bad padding), packets of a payload type nobody
negotiated and packets of an SSRC the party never announced are dropped and counted, per
session in :attr:`RtpSession.drops` and for the process in :data:`RTP_DROPS` (by reason);
none of them ever reaches a stream or breaks the leg.

Every second or so (RFC 3550 section 6.2: a random interval of 0.5 to 1.5 times the nominal
one), the session sends the party a receiver report with a block for each stream it sends us,
and an SDES CNAME.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from media import _aiortc_hooks as hooks
from media import rtcp_packets as rtcp
from media.rtp_header import MalformedPacket, parse_rtp
from media.rtp_inbound import InboundRtp
from media.rtp_outbound import OutboundRtp
from media.rtp_params import StreamParameters

logger = logging.getLogger(__name__)

_KINDS = ("audio", "video")
REPORT_INTERVAL_S = 1.0

#: Packets dropped by every session of this process, by reason (a metric).
RTP_DROPS: collections.Counter[str] = collections.Counter()


@dataclass(frozen=True, slots=True)
class LegRtpStatistics:
    """One leg's RTP now: packets received from the party and lost on the way to us (current
    streams), what the party reports lost of what we send, the largest round-trip time its
    reports give (``None`` before one), and packets dropped here."""

    packets_received: int
    packets_lost_inbound: int
    packets_lost_outbound: int
    rtt_seconds: float | None
    dropped: int


class RtpSession:
    """The RTP of one leg: two inbound and two outbound streams, and the leg's RTCP."""

    def __init__(
        self,
        label: str = "leg",
        *,
        pli_min_interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.label = label
        self.clock = clock
        self.rng = rng or random.SystemRandom()
        self.cname = secrets.token_hex(8)
        self.inbound = {
            kind: InboundRtp(kind, self, pli_min_interval_s=pli_min_interval_s) for kind in _KINDS
        }
        self.outbound = {kind: OutboundRtp(kind, self) for kind in _KINDS}
        self.drops: collections.Counter[str] = collections.Counter()
        self.rtcp_received = 0
        self._routes: dict[int, tuple[InboundRtp, int | None]] = {}
        self._endpoint: hooks.SrtpEndpoint | None = None
        # The DTLS transport's state, kept from its events: read for every forwarded packet.
        self._connected = False
        self._reports: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._connected

    def attach(self, endpoint: hooks.SrtpEndpoint) -> None:
        """Take the leg's packets from ``endpoint`` (once; later calls with it do nothing)."""
        if self._endpoint is endpoint:
            return
        self._endpoint = endpoint
        self._connected = False
        endpoint.intercept(self.on_rtp, self.on_rtcp)
        endpoint.on_state_change(self._on_state)
        if endpoint.connected:
            self._on_state("connected")

    def configure(self, params: StreamParameters) -> None:
        """What the leg negotiated for one kind (again after a renegotiation)."""
        self.inbound[params.kind].configure(params)
        self.outbound[params.kind].configure(params)
        routes: dict[int, tuple[InboundRtp, int | None]] = {}
        for stream in self.inbound.values():
            if stream.params is not None:
                for codec in stream.params.codecs:
                    routes[codec.payload_type] = (stream, codec.rtx_for)
        self._routes = routes

    def inbound_ssrcs(self) -> list[int]:
        return [stream.ssrc for stream in self.inbound.values() if stream.ssrc is not None]

    def drop(self, reason: str) -> None:
        self.drops[reason] += 1
        RTP_DROPS[reason] += 1

    # --- in ---------------------------------------------------------------------------------

    def on_rtp(self, data: bytes) -> None:
        """One decrypted RTP packet from the party."""
        try:
            fields = parse_rtp(data)
        except MalformedPacket as exc:
            self.drop(exc.reason)
            return
        route = self._routes.get(fields.payload_type)
        if route is None:
            self.drop("unknown_payload_type")
            return
        stream, rtx_for = route
        try:
            stream.receive(data, fields, self.clock(), rtx_for=rtx_for)
        except Exception:
            # A bug in what handles one packet must not end the leg's packet handling.
            self.drop("error")
            logger.exception("leg %s: handling an RTP packet failed", self.label)

    def on_rtcp(self, data: bytes) -> None:
        """One decrypted compound RTCP packet from the party."""
        try:
            packets = rtcp.parse_rtcp(data)
        except MalformedPacket as exc:
            self.drop(f"rtcp_{exc.reason}")
            return
        self.rtcp_received += 1
        now = self.clock()
        try:
            for packet in packets:
                self._handle_rtcp(packet, now)
        except Exception:
            self.drop("error")
            logger.exception("leg %s: handling an RTCP packet failed", self.label)

    def _handle_rtcp(self, packet: rtcp.RtcpPacket, now: float) -> None:
        if isinstance(packet, rtcp.SenderReport):
            stream = self._inbound_by_ssrc(packet.ssrc)
            if stream is None:
                self.drop("rtcp_unknown_ssrc")
            else:
                stream.on_sender_report(packet, now)
        elif isinstance(packet, rtcp.Pli | rtcp.Fir | rtcp.Nack):
            ssrcs = packet.media_ssrcs if isinstance(packet, rtcp.Fir) else [packet.media_ssrc]
            outbound = next((s for s in self.outbound.values() if s.ssrc in ssrcs), None)
            if outbound is None:
                self.drop("rtcp_unknown_ssrc")
            elif isinstance(packet, rtcp.Nack):
                outbound.retransmit(packet.lost)
            else:
                outbound.feedback_keyframe()
        elif isinstance(packet, rtcp.Remb):
            video = self.outbound["video"]
            if video.ssrc in packet.ssrcs:
                video.feedback_remb(packet.bitrate)
        if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
            for block in packet.reports:
                outbound = next((s for s in self.outbound.values() if s.ssrc == block.ssrc), None)
                if outbound is not None:
                    outbound.on_report_block(block, now)
        # Reports and BYE end here: the relay terminates RTCP.

    def _inbound_by_ssrc(self, ssrc: int) -> InboundRtp | None:
        for stream in self.inbound.values():
            if stream.ssrc == ssrc:
                return stream
        return None

    def statistics(self) -> LegRtpStatistics:
        """What this leg's packets and the party's reports say now (for metrics)."""
        received = lost = 0
        for stream in self.inbound.values():
            received += stream.packets_received
            lost += stream.lost
        rtts = [s.rtt_seconds for s in self.outbound.values() if s.rtt_seconds is not None]
        return LegRtpStatistics(
            packets_received=received,
            packets_lost_inbound=lost,
            packets_lost_outbound=sum(s.remote_packets_lost for s in self.outbound.values()),
            rtt_seconds=max(rtts) if rtts else None,
            dropped=sum(self.drops.values()),
        )

    # --- out --------------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        endpoint = self._endpoint
        return endpoint is not None and endpoint.send(data)

    def send_rewritten(self, data: bytes, second: int, sequence: int, timestamp: int, ssrc: int) -> bool:
        endpoint = self._endpoint
        return endpoint is not None and endpoint.send_rewritten(data, second, sequence, timestamp, ssrc)

    def send_rtcp(self, data: bytes) -> bool:
        endpoint = self._endpoint
        return endpoint is not None and endpoint.send(data, rtcp=True)

    def send_receiver_report(self) -> bool:
        """A receiver report on what the party sends (and its CNAME); ``False`` if none is due."""
        now = self.clock()
        blocks = [b for s in self.inbound.values() if (b := s.report_block(now)) is not None]
        if not blocks:
            return False
        ssrc = self.outbound["video"].ssrc or self.outbound["audio"].ssrc
        report = rtcp.receiver_report(rtcp.ReceiverReport(ssrc, blocks))
        return self.send_rtcp(report + rtcp.sdes_cname(ssrc, self.cname))

    def _on_state(self, state: str) -> None:
        self._connected = state == "connected"
        if state != "connected" or self._closed:
            return
        if self._reports is None:
            self._reports = asyncio.get_running_loop().create_task(self._report_periodically())
        for stream in self.outbound.values():
            stream.became_ready()

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S * (0.5 + self.rng.random()))
            if not self.connected:
                continue
            try:
                self.send_receiver_report()
            except Exception:
                logger.exception("leg %s: sending a receiver report failed", self.label)

    async def close(self) -> None:
        """Stop reporting and forget subscribers. Idempotent."""
        self._closed = True
        for stream in self.inbound.values():
            stream.close()
        task, self._reports = self._reports, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
