"""``OutboundTrack``: the track a leg sends, fed with already-encoded frames."""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from collections.abc import Callable
from typing import Any, Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

logger = logging.getLogger(__name__)

#: Why a forwarder should get a keyframe from upstream: the sender started reading (a new
#: consumer, e.g. a party joining late) or the remote peer sent PLI/FIR for this sender.
DemandReason = Literal["consumer", "pli"]


class OutboundTrack(MediaStreamTrack):
    """A track whose ``recv()`` returns encoded ``av.Packet`` objects.

    aiortc's ``RTCRtpSender`` packetizes an ``av.Packet`` with its codec's ``pack()`` and
    sends it without encoding. The leg sets :attr:`codec` to what the sender was negotiated
    to send; whoever feeds the track (a ``Forwarder``) must push frames of that codec only.

    The queue is bounded (see :meth:`push`).
    """

    def __init__(self, kind: str, *, max_queued: int) -> None:
        super().__init__()
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind {kind!r}")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self.kind = kind
        self.codec: RTCRtpCodecParameters | None = None
        self.on_demand: Callable[[DemandReason], None] | None = None
        self._max_queued = max_queued
        self._queue: collections.deque[tuple[bytes, int, fractions.Fraction]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._consuming = False
        self._stopped = False  # readyState, without a property lookup per frame
        self.frames_sent = 0
        self.frames_dropped = 0

    @property
    def consuming(self) -> bool:
        """Whether a sender reads this track (it starts once the connection is up)."""
        return self._consuming and not self._stopped

    def push(self, data: bytes, pts: int, time_base: fractions.Fraction) -> bool:
        """Queue one encoded frame for the sender; ``False`` if it was not queued.

        Video returns ``False`` when nobody reads the track yet or the queue overflowed (it
        is then emptied: the next frame must be a keyframe). Audio drops its oldest frame.
        """
        if not self.consuming:
            self.frames_dropped += 1
            return False
        if len(self._queue) >= self._max_queued:
            if self.kind == "video":
                # Later video frames reference the dropped ones: start over from a keyframe.
                self.frames_dropped += len(self._queue) + 1
                self._queue.clear()
                return False
            # Audio frames stand alone: keep the newest.
            self._queue.popleft()
            self.frames_dropped += 1
        self._queue.append((data, pts, time_base))
        self._wakeup.set()
        return True

    def request_keyframe(self) -> None:
        """The remote peer asked this track's sender for a keyframe (PLI/FIR)."""
        self._demand("pli")

    async def recv(self) -> av.Packet[Any]:
        if self._stopped:
            raise MediaStreamError
        if not self._consuming:
            self._consuming = True
            self._demand("consumer")
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
            if self._stopped:
                raise MediaStreamError
        data, pts, time_base = self._queue.popleft()
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = time_base
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        self._stopped = True
        super().stop()
        self._queue.clear()
        self._wakeup.set()

    def _demand(self, reason: DemandReason) -> None:
        if self.on_demand is None:
            return
        try:
            self.on_demand(reason)
        except Exception:
            logger.exception("outbound %s track: keyframe demand handler failed", self.kind)
