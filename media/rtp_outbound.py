"""``OutboundRtp``: what we send the party of one leg of one kind (the other party's packets,
forwarded into it by a ``media.forwarder.Forwarder``).

Each forwarded packet gets our SSRC, the negotiated payload type and the
outbound sequence numbers and timestamps of a :class:`~media.rtp_header.StreamMapper`, and is
kept in a send history (video) so that the party's NACKs are answered: on the RTX stream where
RTX was negotiated, else as the same packet again. The new header is written straight into
the SRTP buffer of the leg (``RtpLink.send_rewritten``): no rewritten copy is built per
packet, and the history keeps a copy of the packet as it came with the header fields it left
with (a retransmission, rare, is rebuilt from them). Sender reports are the upstream party's,
rewritten: our SSRC, its NTP time, its RTP timestamp mapped onto ours, our counts.

The history copies each packet into a slot of one buffer allocated with the stream rather than
holding on to the packet: thousands of packet-sized objects, each freed ten seconds later in
arrival order among short-lived ones, fragment the C heap. ``loket serve`` grew about 4 MiB a
minute with ten calls (``bench.soak``) while the memory it had in use stayed flat.
"""

from __future__ import annotations

from collections.abc import Callable

from media import rtcp_packets as rtcp
from media.rtp_header import RtpFields, StreamMapper, parse_rtp, rewrite_header, rewrite_rtp, wrap_rtx
from media.rtp_link import RtpLink
from media.rtp_params import Codec, StreamParameters

_HISTORY = 1024  # packets of video kept for retransmission (about 10 s at 100 packets/s)
# Bytes of one history slot: an RTP packet that crossed an Ethernet path in one UDP datagram
# (browsers send at most about 1,200 bytes, aiortc 1,300 of payload). A longer one is kept as
# it is, outside the buffer.
_SLOT = 1500

#: A sent packet as the history keeps it: its length in its slot (or the packet itself when
#: it did not fit) and its fields, and the second header byte (marker, payload type),
#: sequence number and timestamp it left with.
_Sent = tuple[int | bytes, RtpFields, int, int, int]


class OutboundRtp:
    """What we send the party of one leg of one kind (see the module docstring)."""

    def __init__(self, kind: str, session: RtpLink) -> None:
        self.kind = kind
        self.params: StreamParameters | None = None
        self.ssrc = 0
        self.mapper: StreamMapper | None = None
        self.on_keyframe_request: Callable[[], None] | None = None
        self.on_remb: Callable[[int], None] | None = None
        self.on_ready: Callable[[], None] | None = None
        self._session = session
        self._history: list[_Sent | None] | None = None
        self._slots = memoryview(b"")
        self._rtx_payload_type: int | None = None
        self._rtx_ssrc = 0
        self._rtx_sequence = 0
        self.packets_sent = 0
        self.octets_sent = 0
        # What the party's receiver reports say about this stream (RFC 3550 section 6.4.1).
        self.remote_packets_lost = 0
        self.remote_fraction_lost = 0
        self.rtt_seconds: float | None = None
        self._reports_sent: dict[int, float] = {}  # the middle 32 bits of an SR's NTP time -> when
        self.retransmitted = 0
        self.not_in_history = 0
        self.send_failures = 0

    @property
    def codec(self) -> Codec | None:
        """The codec this leg was answered with for this kind (what we send)."""
        return self.params.primary if self.params is not None else None

    @property
    def ready(self) -> bool:
        """Negotiated and connected: a forwarded packet can go."""
        return self.mapper is not None and self._session.connected

    def configure(self, params: StreamParameters) -> None:
        self.params = params
        self.ssrc = params.local_ssrc
        primary = params.primary
        if primary is not None and (self.mapper is None or self.mapper.clock_rate != primary.clock_rate):
            self.mapper = StreamMapper(primary.clock_rate, rng=self._session.rng)
        rtx = params.rtx_for(primary.payload_type) if primary is not None else None
        self._rtx_payload_type = rtx.payload_type if rtx is not None else None
        self._rtx_ssrc = params.local_rtx_ssrc
        self._rtx_sequence = self._session.rng.getrandbits(16)
        if self.kind == "video" and params.has_feedback("nack") and self._history is None:
            self._history = [None] * _HISTORY
            self._slots = memoryview(bytearray(_HISTORY * _SLOT))

    def send_media(
        self, data: bytes, fields: RtpFields, payload_type: int, extensions: bytes | None, now: float
    ) -> bool:
        """Rewrite and send one forwarded packet (the caller checked :attr:`ready`)."""
        mapper = self.mapper
        assert mapper is not None
        sequence, timestamp = mapper.map(fields.ssrc, fields.sequence, fields.timestamp, now)
        second = (data[1] & 0x80) | payload_type
        if extensions is not None:
            # Another extension block changes the packet's length: build it (rare: the two
            # legs negotiated different extension ids).
            data = rewrite_rtp(
                data,
                fields,
                payload_type=payload_type,
                sequence=0,
                timestamp=0,
                ssrc=0,
                extensions=extensions,
            )
            fields = parse_rtp(data)
        if self._history is not None:
            slot, size = sequence % _HISTORY, len(data)
            kept: int | bytes = data
            if size <= _SLOT:
                start = slot * _SLOT
                self._slots[start : start + size] = data
                kept = size
            self._history[slot] = (kept, fields, second, sequence, timestamp)
        if not self._session.send_rewritten(data, second, sequence, timestamp, self.ssrc):
            self.send_failures += 1
            return False
        self.packets_sent += 1
        self.octets_sent += fields.payload_end - fields.ext_end
        return True

    def retransmit(self, sequences: list[int]) -> None:
        """Answer a NACK from the send history (RFC 4588 on the RTX stream where negotiated)."""
        history = self._history
        for sequence in sequences:
            slot = sequence % _HISTORY
            entry = history[slot] if history is not None else None
            if entry is None or entry[3] != sequence:
                self.not_in_history += 1
                continue
            kept, fields, second, _, timestamp = entry
            start = slot * _SLOT
            data = kept if isinstance(kept, bytes) else self._slots[start : start + kept].tobytes()
            packet = rewrite_header(data, second, sequence, timestamp, self.ssrc)
            if self._rtx_payload_type is not None:
                packet = wrap_rtx(
                    packet,
                    fields._replace(sequence=sequence, timestamp=timestamp),
                    payload_type=self._rtx_payload_type,
                    sequence=self._rtx_sequence,
                    ssrc=self._rtx_ssrc,
                )
                self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
            if self._session.send(packet):
                self.retransmitted += 1

    def send_sender_report(self, source_ssrc: int, report: rtcp.SenderReport) -> bool:
        """The upstream party's sender report, as ours: lip sync survives the relay, since
        each stream's RTP time keeps its tie to the sender's NTP clock (RFC 3550 section 6.4.1)."""
        if self.mapper is None or not self.ready:
            return False
        timestamp = self.mapper.map_timestamp(source_ssrc, report.rtp_timestamp)
        if timestamp is None:
            return False
        ours = rtcp.SenderReport(self.ssrc, report.ntp, timestamp, self.packets_sent, self.octets_sent)
        sent = self._reports_sent
        sent[(report.ntp >> 16) & 0xFFFFFFFF] = self._session.clock()
        while len(sent) > 8:
            del sent[next(iter(sent))]
        return self._session.send_rtcp(
            rtcp.sender_report(ours) + rtcp.sdes_cname(self.ssrc, self._session.cname)
        )

    def on_report_block(self, block: rtcp.ReportBlock, now: float) -> None:
        """The party's reception report on this stream: its losses, and the round-trip time
        from the sender report it echoes (LSR) and how long it held it (DLSR)."""
        self.remote_packets_lost = max(0, block.packets_lost)
        self.remote_fraction_lost = block.fraction_lost
        sent_at = self._reports_sent.get(block.lsr) if block.lsr else None
        if sent_at is not None:
            self.rtt_seconds = max(0.0, now - sent_at - block.dlsr / 65536)

    def feedback_keyframe(self) -> None:
        if self.on_keyframe_request is not None:
            self.on_keyframe_request()

    def feedback_remb(self, bitrate: int) -> None:
        if self.on_remb is not None:
            self.on_remb(bitrate)

    def became_ready(self) -> None:
        if self.on_ready is not None:
            self.on_ready()
