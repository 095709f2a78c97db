"""``InboundStream``: the encoded frames one party sends us for one media kind."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver

from media import _aiortc_hooks as hooks
from media.frames import EncodedFrame, is_complete, is_keyframe
from media.types import FrameCallback

logger = logging.getLogger(__name__)


class InboundStream:
    """Encoded frames received from one party for one kind (audio or video), fanned out.

    A leg creates one per kind before the party connects; :meth:`attach` plugs in the aiortc
    receiver once negotiation created it. Subscribers (a forwarder, later a recorder) get
    every frame synchronously on the event loop and must not block.
    :meth:`request_keyframe` sends the party a picture loss indication, coalescing requests
    that come quicker than ``pli_min_interval_s``.
    """

    def __init__(
        self, kind: str, *, pli_min_interval_s: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind {kind!r}")
        self.kind = kind
        self._pli_min_interval_s = pli_min_interval_s
        self._clock = clock
        self._receiver: RTCRtpReceiver | None = None
        self._subscribers: list[FrameCallback] = []
        self._last_sequence: int | None = None
        self._last_ssrc: int | None = None
        self._pli_task: asyncio.Task[None] | None = None
        self._last_pli_at: float | None = None
        self._closed = False
        self.frames_received = 0
        self.discontinuities = 0
        self.keyframe_requests_sent = 0

    @property
    def attached(self) -> bool:
        """Whether an aiortc receiver feeds this stream."""
        return self._receiver is not None

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Take this receiver's encoded frames (it must not have started yet)."""
        if self._receiver is receiver:
            return
        if self._receiver is not None:
            raise RuntimeError(f"inbound {self.kind} stream already has a receiver")
        hooks.tap_encoded_frames(receiver, self.kind, self._on_frame)
        self._receiver = receiver

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback`` with every frame from now on; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def request_keyframe(self) -> None:
        """Ask the party for a keyframe (video only; audio has none)."""
        if self.kind != "video" or self._closed or self._receiver is None or self._last_ssrc is None:
            # Nothing received yet: the first frames will be checked for a keyframe anyway.
            return
        if self._pli_task is not None and not self._pli_task.done():
            return  # one is already on its way; coalesce
        delay = 0.0
        if self._last_pli_at is not None:
            delay = max(0.0, self._last_pli_at + self._pli_min_interval_s - self._clock())
        self._pli_task = asyncio.get_running_loop().create_task(self._send_pli(delay))

    async def close(self) -> None:
        """Stop sending keyframe requests and drop subscribers. Idempotent."""
        self._closed = True
        self._subscribers.clear()
        task, self._pli_task = self._pli_task, None
        if task is not None and not task.done():
            task.cancel()
            # gather() returns the task's CancelledError but still raises our own.
            await asyncio.gather(task, return_exceptions=True)

    async def _send_pli(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        receiver, ssrc = self._receiver, self._last_ssrc
        if receiver is None or ssrc is None or self._closed:
            return
        self._last_pli_at = self._clock()
        self.keyframe_requests_sent += 1
        try:
            await hooks.send_picture_loss_indication(receiver, ssrc)
        except Exception:
            logger.exception("could not send a picture loss indication")

    def _on_frame(self, received: hooks.ReceivedFrame) -> None:
        mime_type = received.codec.mimeType
        discontinuity = (
            self._last_sequence is None
            or received.ssrc != self._last_ssrc
            or received.first_sequence != (self._last_sequence + 1) & 0xFFFF
        )
        self._last_sequence = received.last_sequence
        self._last_ssrc = received.ssrc
        self.frames_received += 1
        if discontinuity:
            self.discontinuities += 1
        frame = EncodedFrame(
            kind=self.kind,
            mime_type=mime_type,
            clock_rate=received.codec.clockRate,
            data=received.data,
            timestamp=received.timestamp,
            keyframe=is_keyframe(mime_type, received.data),
            discontinuity=discontinuity,
            complete=is_complete(mime_type, received.data),
        )
        for callback in list(self._subscribers):
            try:
                callback(frame)
            except Exception:
                logger.exception("inbound %s frame subscriber failed", self.kind)
