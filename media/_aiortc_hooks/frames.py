"""(b) Frames for recording: aiortc's depayloaders and jitter buffer, for recorded legs only,
in the codecs that ``media.depacketizer`` does not handle itself (:class:`FrameAssembler`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.depacketizer import AssembledFrame
from media.rtp_header import RtpFields
from media.rtp_params import Codec

logger = logging.getLogger(__name__)

# How long a lost packet may hold up later frames before we skip it. Video packets are
# NACKed (RFC 4585) and may come back retransmitted within a round trip or two; audio is not
# NACKed, so only reordering is worth waiting for.
_VIDEO_MAX_WAIT_S = 0.5
_AUDIO_MAX_WAIT_S = 0.1


class _SequencedJitterFrame(JitterFrame):
    """aiortc's ``JitterFrame`` plus the RTP sequence numbers and SSRC it came from."""

    def __init__(self, data: bytes, timestamp: int, first: int, last: int, ssrc: int) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.first_sequence = first
        self.last_sequence = last
        self.ssrc = ssrc


class _SequencedJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, telling which sequence numbers each frame spans, and not
    waiting forever for a lost packet.

    Relies on ``JitterBuffer._remove_frame()`` building a frame from the packets that start
    at ``self._origin`` and, when it returns one, advancing ``_origin`` just past that
    frame's packets (``JitterBuffer.remove``). aiortc hands out no sequence numbers, and
    without them a lost frame is invisible once the frames are reassembled.

    aiortc's buffer waits for a missing packet until the buffer overflows (512 packets, many
    seconds of video). Once the packets behind a gap span more than ``max_wait_s`` (time for
    NACK and a retransmission, RFC 4588), we give up on the gap with aiortc's
    ``smart_remove`` (which drops the frame it cuts) and go on; the next frame is then
    reported after a sequence gap, so the recorder waits for a keyframe.
    """

    def __init__(self, capacity: int, is_video: bool, max_wait_s: float, clock_rate: int) -> None:
        super().__init__(capacity=capacity, prefetch=0, is_video=is_video)
        self._ssrc = 0
        self._max_wait_ticks = int(max_wait_s * clock_rate)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self._ssrc = packet.ssrc
        pli_flag, frame = super().add(packet)
        if frame is None and self._waited_too_long(packet.timestamp):
            # Skip the contiguous head (a frame missing its tail) and the gap after it.
            self.smart_remove(self._contiguous_head() + 1)
            frame = self._remove_frame(packet.sequence_number)
        return pli_flag, frame

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        first = self._origin
        frame = super()._remove_frame(sequence_number)
        if frame is None or first is None or self._origin is None:
            return frame
        last = (self._origin - 1) & 0xFFFF
        return _SequencedJitterFrame(frame.data, frame.timestamp, first, last, self._ssrc)

    def _slot(self, count: int) -> RtpPacket | None:
        assert self._origin is not None
        return self._packets[(self._origin + count) % self._capacity]

    def _contiguous_head(self) -> int:
        count = 0
        while count < self._capacity and self._slot(count) is not None:
            count += 1
        return count

    def _waited_too_long(self, newest_timestamp: int) -> bool:
        if self._origin is None:
            return False
        for count in range(self._capacity):
            oldest = self._slot(count)
            if oldest is not None:
                span = (newest_timestamp - oldest.timestamp) & 0xFFFFFFFF
                return self._max_wait_ticks < span < 1 << 31
        return False


class FrameAssembler:
    """Encoded frames from one party's RTP packets of one kind, for a recorder, in codecs
    that :class:`~media.depacketizer.Depacketizer` does not do itself (H.264).

    Each packet (already decrypted, RTX already unwrapped) is parsed by aiortc, its payload
    depacketized by aiortc's ``depayload`` into ``RtpPacket._data`` (what aiortc's receiver
    does before its jitter buffer), and put in a :class:`_SequencedJitterBuffer`; each frame
    it completes goes to ``callback``. Nothing is decoded. Off the forwarding path: only a
    recorded party's packets come here.
    """

    def __init__(self, kind: str, codec: Codec, callback: Callable[[AssembledFrame], None]) -> None:
        is_video = kind == "video"
        self._codec = RTCRtpCodecParameters(
            mimeType=codec.mime_type, clockRate=codec.clock_rate, payloadType=codec.payload_type
        )
        self._payload_type = codec.payload_type
        self._callback = callback
        self._buffer = _SequencedJitterBuffer(
            128 if is_video else 16,
            is_video=is_video,
            max_wait_s=_VIDEO_MAX_WAIT_S if is_video else _AUDIO_MAX_WAIT_S,
            clock_rate=codec.clock_rate,
        )

    def feed(self, data: bytes, fields: RtpFields | None = None) -> None:
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            return
        if packet.payload_type != self._payload_type:
            return
        try:
            packet._data = depayload(self._codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
        except Exception:  # a depayloader refusing a damaged payload drops that packet only
            return
        _, frame = self._buffer.add(packet)
        if isinstance(frame, _SequencedJitterFrame):
            self._callback(
                AssembledFrame(
                    mime_type=self._codec.mimeType,
                    clock_rate=self._codec.clockRate,
                    data=frame.data,
                    timestamp=frame.timestamp,
                    first_sequence=frame.first_sequence,
                    last_sequence=frame.last_sequence,
                    ssrc=frame.ssrc,
                )
            )
