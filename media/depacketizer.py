"""``Depacketizer``: VP8 and Opus frames from RTP packets, for a recorder, off the forwarding path.

Pure and cheap (the header is read with :func:`~media.rtp_header.parse_rtp`, payloads joined
as bytes): a recorded party costs its recording a few microseconds per packet.

- VP8 (RFC 7741 section 4): a frame is the packets of one RTP timestamp, from the one that
  starts it (S set, partition 0) to the one with the marker bit; each payload without its
  payload descriptor, joined in sequence order.
- Opus (RFC 7587 section 4.2): each packet is a frame.

Packets may come out of order (a retransmission fills a gap late): a frame is emitted once it
is whole and every older frame was emitted or given up on. An older frame still missing
packets is given up once ``max_pending`` frames wait behind it or the newest is
``max_wait_s`` of RTP time later: the next frame then starts after a sequence gap, which
tells the consumer that packets were lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from media.rtp_header import RtpFields
from media.rtp_payload import vp8_descriptor_length


@dataclass(frozen=True, slots=True)
class AssembledFrame:
    """An encoded frame reassembled from RTP.

    ``timestamp`` is the frame's RTP timestamp; ``first_sequence``/``last_sequence`` are the
    RTP sequence numbers of its first and last packet: a gap to the previous frame means
    packets were lost.
    """

    mime_type: str
    clock_rate: int
    data: bytes
    timestamp: int
    first_sequence: int
    last_sequence: int
    ssrc: int


class _Pending:
    __slots__ = ("end", "payloads", "start")

    def __init__(self) -> None:
        self.start: int | None = None
        self.end: int | None = None
        self.payloads: dict[int, bytes] = {}

    def whole(self) -> bool:
        start, end = self.start, self.end
        return start is not None and end is not None and len(self.payloads) == ((end - start) & 0xFFFF) + 1


class Depacketizer:
    """Frames of one stream (VP8 or Opus) from its packets; see the module docstring."""

    SUPPORTED = ("video/vp8", "audio/opus")

    def __init__(
        self,
        mime_type: str,
        clock_rate: int,
        callback: Callable[[AssembledFrame], None],
        *,
        max_pending: int = 4,
        max_wait_s: float = 0.5,
    ) -> None:
        if mime_type.lower() not in self.SUPPORTED:
            raise ValueError(f"cannot depacketize {mime_type}")
        self.mime_type = mime_type
        self.clock_rate = clock_rate
        self._vp8 = mime_type.lower() == "video/vp8"
        self._callback = callback
        self._max_pending = max_pending
        self._max_wait = int(max_wait_s * clock_rate)
        self._pending: dict[int, _Pending] = {}  # by RTP timestamp, oldest first
        self._ssrc: int | None = None
        self._last_timestamp: int | None = None  # of the last frame emitted or given up
        self.given_up = 0

    def feed(self, data: bytes, fields: RtpFields) -> None:
        if fields.ssrc != self._ssrc:
            self._ssrc, self._last_timestamp = fields.ssrc, None
            self._pending.clear()
        timestamp, sequence = fields.timestamp, fields.sequence
        if (
            self._last_timestamp is not None
            and not 0 < (timestamp - self._last_timestamp) & 0xFFFFFFFF < 1 << 31
        ):
            return  # a late packet of a frame already emitted or given up
        payload = data[fields.ext_end : fields.payload_end]
        if not payload:
            return
        frame = self._pending.get(timestamp)
        if frame is None:
            frame = self._pending[timestamp] = _Pending()
        if self._vp8:
            if payload[0] & 0x17 == 0x10:  # S set, partition 0
                frame.start = sequence
            try:
                payload = payload[vp8_descriptor_length(payload) :]
            except IndexError:
                return
            if fields.marker:
                frame.end = sequence
        else:
            frame.start = frame.end = sequence
        frame.payloads[sequence] = payload
        self._drain(timestamp)

    def _drain(self, newest: int) -> None:
        pending = self._pending
        while pending:
            timestamp = next(iter(pending))
            frame = pending[timestamp]
            if not frame.whole():
                waited = (newest - timestamp) & 0xFFFFFFFF
                if len(pending) <= self._max_pending and not self._max_wait < waited < 1 << 31:
                    return
                self.given_up += 1
            else:
                self._emit(timestamp, frame)
            del pending[timestamp]
            self._last_timestamp = timestamp

    def _emit(self, timestamp: int, frame: _Pending) -> None:
        start, end = frame.start, frame.end
        assert start is not None and end is not None and self._ssrc is not None
        payloads = frame.payloads
        data = b"".join(payloads[(start + i) & 0xFFFF] for i in range(len(payloads)))
        self._callback(
            AssembledFrame(self.mime_type, self.clock_rate, data, timestamp, start, end, self._ssrc)
        )
