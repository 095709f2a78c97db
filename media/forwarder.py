"""``Forwarder``: passes one party's encoded frames to the other party's sender, untouched."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from media.frames import EncodedFrame
from media.outbound import DemandReason, OutboundTrack
from media.rtp import RtpTimeline
from media.types import FrameSource

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ForwarderStats:
    """Counters of one forwarder, for metrics and tests."""

    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    keyframe_requests: int = 0


class Forwarder:
    """Feeds a sender (``OutboundTrack``) with the encoded frames of an inbound stream.

    No decoding, no encoding. For video it keeps the receiving decoder whole: it starts at a
    keyframe, and after lost packets, an incomplete frame, a sender overflow or a new
    consumer (a party joining late) it drops frames until the next keyframe, which it asks
    upstream for (again every ``keyframe_retry_s`` while waiting). Keyframe requests
    (PLI/FIR) that the downstream peer sends for the sender are passed upstream as PLI.
    Timestamps given to the sender are strictly increasing and keep the upstream RTP
    spacing, across the 32-bit wrap too (:class:`~media.rtp.RtpTimeline`); when upstream
    restarts, they go on by the wall-clock time elapsed.
    """

    def __init__(
        self,
        source: FrameSource,
        sink: OutboundTrack,
        *,
        keyframe_retry_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if source.kind != sink.kind:
            raise ValueError(f"cannot forward {source.kind} to a {sink.kind} track")
        self.kind = source.kind
        self.stats = ForwarderStats()
        self._source = source
        self._sink = sink
        self._keyframe_retry_s = keyframe_retry_s
        self._clock = clock
        self._need_keyframe = True
        self._last_request_at: float | None = None
        self._timeline: RtpTimeline | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._warned_codec: tuple[str, str] | None = None

    @property
    def running(self) -> bool:
        return self._unsubscribe is not None

    def start(self) -> None:
        """Start forwarding. Idempotent."""
        if self._unsubscribe is not None:
            return
        self._sink.on_demand = self._on_demand
        self._unsubscribe = self._source.subscribe(self._on_frame)
        if self._sink.consuming:
            self._on_demand("consumer")

    def stop(self) -> None:
        """Stop forwarding. Idempotent."""
        if self._unsubscribe is None:
            return
        self._unsubscribe()
        self._unsubscribe = None
        if self._sink.on_demand == self._on_demand:
            self._sink.on_demand = None

    def _on_demand(self, reason: DemandReason) -> None:
        if self.kind != "video":
            return  # PLI/FIR concern video; Opus frames stand alone
        if reason == "consumer":
            # A new consumer can only start decoding at a keyframe: get one now rather than
            # wait for the sender's next periodic one (late joiner sees video at once).
            self._need_keyframe = True
        self._request_keyframe()

    def _request_keyframe(self) -> None:
        self._last_request_at = self._clock()
        self.stats.keyframe_requests += 1
        self._source.request_keyframe()

    def _drop(self) -> None:
        self.stats.dropped += 1

    def _on_frame(self, frame: EncodedFrame) -> None:
        self.stats.received += 1
        sink = self._sink
        codec = sink.codec
        if codec is None or not sink.consuming:
            # The other party is not connected (yet): nothing to send to.
            self._need_keyframe = True
            self._drop()
            return
        if codec.mimeType.lower() != frame.mime_type.lower():
            self._warn_codec_mismatch(frame.mime_type, codec.mimeType)
            self._drop()
            return
        if self.kind == "video" and not self._admit_video(frame):
            self._drop()
            return
        timeline = self._timeline
        if timeline is None:
            timeline = self._timeline = RtpTimeline(frame.clock_rate)
        pts = timeline.pts(frame.timestamp, self._clock())
        if sink.push(frame.data, pts, timeline.time_base):
            self.stats.forwarded += 1
        elif self.kind == "video":
            # The sender fell behind and dropped its queue: resume at a keyframe.
            self._need_keyframe = True
            self._request_keyframe()

    def _admit_video(self, frame: EncodedFrame) -> bool:
        if not frame.complete:
            self._need_keyframe = True
            self._request_keyframe()
            return False
        if frame.discontinuity and not frame.keyframe and not self._need_keyframe:
            # Packets were lost: the frames that follow reference a picture the receiver
            # never got (RFC 4585 section 6.3.1 asks for a PLI in this case).
            self._need_keyframe = True
            self._request_keyframe()
        if not self._need_keyframe:
            return True
        if frame.keyframe:
            self._need_keyframe = False
            return True
        if self._last_request_at is None or self._clock() - self._last_request_at >= self._keyframe_retry_s:
            self._request_keyframe()
        return False

    def _warn_codec_mismatch(self, received: str, negotiated: str) -> None:
        if self._warned_codec != (received, negotiated):
            self._warned_codec = (received, negotiated)
            logger.warning(
                "cannot forward %s: the other party's sender was negotiated %s", received, negotiated
            )
