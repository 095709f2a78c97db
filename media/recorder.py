"""``Recorder``: one party's encoded frames remuxed into a WebM file, without transcoding."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from media.errors import MediaError
from media.frames import EncodedFrame
from media.leg import Leg
from media.rtp import RtpTimeline
from media.types import FrameSource
from media.webm import WEBM_TIME_BASE, WebmWriter, vp8_dimensions

logger = logging.getLogger(__name__)

_VIDEO_MIME = "video/vp8"
_AUDIO_MIME = "audio/opus"


class RecordingError(MediaError):
    """A recording could not be written completely (the file system failed the writer)."""

    code = "recording_failed"
    status = 500


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """What one :class:`Recorder` wrote.

    ``path`` is ``None`` when no file was created (no video keyframe arrived between start
    and stop). ``duration_seconds`` is the last pts written (either stream), from the first
    keyframe. ``dropped`` counts frames lost because the writer fell behind (its queue was
    full); ``skipped`` counts video frames passed over while waiting for a keyframe (before
    the first one, and after lost packets or a drop). ``writer_cpu_seconds`` is the CPU time
    the writer thread used.
    """

    path: Path | None
    bytes: int
    duration_seconds: float
    video_frames: int
    audio_frames: int
    dropped: int
    skipped: int
    writer_cpu_seconds: float

    def __post_init__(self) -> None:
        if self.bytes < 0 or self.duration_seconds < 0:
            raise ValueError("bytes and duration must not be negative")


@dataclass(frozen=True, slots=True)
class _Item:
    kind: Literal["audio", "video"]
    frame: EncodedFrame
    arrival: float


_State = Literal["new", "running", "stopped"]


class Recorder:
    """Records what one party sends (one leg's inbound video and audio) into a WebM file.

    Encoded VP8 and Opus frames are remuxed as they are: nothing is decoded or encoded.

    *Start.* :meth:`start` subscribes to both streams and asks the party for a keyframe.
    Capture begins at the first complete video keyframe: video before it, and all audio
    before it, is dropped, so the file starts with a decodable picture and sound from the
    same instant. The file is created then, not earlier: nothing is written before
    :meth:`start` (consent is checked by whoever calls it).

    *Timestamps.* WebM stores milliseconds. Each stream keeps its RTP spacing
    (:class:`~media.rtp.RtpTimeline`: wrap-around handled, strictly increasing, gaps kept as
    gaps). The RTP timestamps of audio and video start at unrelated random values and RTCP
    sender reports (which would map both to one NTP clock, RFC 3550 section 6.4.1) are not
    available here, so the streams are aligned by wall-clock arrival: video starts at 0 with
    the first keyframe; audio starts at the time its first frame arrived after that keyframe.
    The error is the difference in network and encoding delay of the two streams (tens of
    milliseconds on a normal path).

    *Loss.* After lost packets or an incomplete frame, video frames are skipped until the
    next keyframe, which is requested (again every ``keyframe_retry_s`` while waiting), so
    the file never holds a frame that references a missing one.

    *Threads.* The subscriber callbacks run on the event loop and only check and append to
    a bounded queue (when it is full the frame is dropped and counted, never waited for).
    A dedicated writer thread muxes and does all file I/O. It wakes every
    ``flush_interval_s`` and writes what has queued up, rather than once per frame: waking a
    thread (and handing it the GIL) costs more than muxing a frame.

    *Stop.* :meth:`stop` stops capture at once (frames arriving later are ignored), lets the
    writer write what was received before, closes the file and returns a
    :class:`RecordingResult`. It is idempotent; the recorder is also an async context
    manager. A recorder records once. Stop it when the call ends: a closed leg delivers no
    more frames, but only :meth:`stop` finishes the file and ends the writer thread.
    """

    def __init__(
        self,
        video: FrameSource,
        audio: FrameSource,
        path: str | os.PathLike[str],
        *,
        max_queued: int = 200,
        keyframe_retry_s: float = 0.5,
        flush_interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if video.kind != "video" or audio.kind != "audio":
            raise ValueError("a recorder needs a video source and an audio source")
        if max_queued < 1 or keyframe_retry_s <= 0 or flush_interval_s <= 0:
            raise ValueError("max_queued, keyframe_retry_s and flush_interval_s must be positive")
        self.path = Path(path)
        self._video = video
        self._audio = audio
        self._max_queued = max_queued
        self._keyframe_retry_s = keyframe_retry_s
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._state: _State = "new"
        self._unsubscribe: list[Callable[[], None]] = []
        # deque append and popleft are atomic: the event loop appends, the writer pops.
        self._queue: collections.deque[_Item] = collections.deque()
        self._stopping = threading.Event()
        self._writer = WebmWriter(self.path)
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._stop_task: asyncio.Task[RecordingResult] | None = None
        # Event-loop side.
        self._need_keyframe = True
        self._last_keyframe_request = 0.0
        self._unsupported_logged: set[str] = set()
        self.capture_started_at: float | None = None
        self.dropped = 0
        self.skipped = 0
        # Writer-thread side (read once the thread has ended).
        self._timelines: dict[str, RtpTimeline] = {}
        self._origin = 0.0
        self._written = {"audio": 0, "video": 0}
        self._bytes = 0
        self._writer_cpu = 0.0
        self._error: BaseException | None = None

    @classmethod
    def for_leg(
        cls,
        leg: Leg,
        path: str | os.PathLike[str],
        *,
        max_queued: int = 200,
        keyframe_retry_s: float = 0.5,
        flush_interval_s: float = 0.25,
    ) -> Recorder:
        """A recorder of what the party of ``leg`` sends."""
        return cls(
            leg.inbound["video"],
            leg.inbound["audio"],
            path,
            max_queued=max_queued,
            keyframe_retry_s=keyframe_retry_s,
            flush_interval_s=flush_interval_s,
        )

    @property
    def recording(self) -> bool:
        """Whether frames are being captured (started, a keyframe arrived, not stopped)."""
        return self._state == "running" and self.capture_started_at is not None

    async def start(self) -> None:
        """Subscribe to the party's frames and ask it for a keyframe."""
        if self._state != "new":
            raise RuntimeError("a recorder records once; create a new one")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._thread = threading.Thread(
            target=self._run_writer, args=(loop,), name=f"recorder {self.path.name}", daemon=True
        )
        self._thread.start()
        self._state = "running"
        self._unsubscribe = [
            self._video.subscribe(self._on_video),
            self._audio.subscribe(self._on_audio),
        ]
        self._request_keyframe()

    async def stop(self) -> RecordingResult:
        """Stop capturing now, finish the file and return what was written. Idempotent.

        Raises :class:`RecordingError` when writing failed (the file is then incomplete).
        """
        if self._stop_task is None:
            # Synchronously, before any await: not one more frame is taken.
            started = self._state == "running"
            self._state = "stopped"
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []
            self._stopping.set()
            self._stop_task = asyncio.get_running_loop().create_task(self._finish(started))
        return await asyncio.shield(self._stop_task)

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _finish(self, started: bool) -> RecordingResult:
        if started and self._done is not None:
            await self._done
        if self._error is not None:
            raise RecordingError(f"recording {self.path.name} failed: {self._error}") from self._error
        timelines = [t.last_pts for t in self._timelines.values() if t.last_pts is not None]
        return RecordingResult(
            path=self.path if self._writer.opened else None,
            bytes=self._bytes,
            duration_seconds=max(timelines, default=0) / 1000,
            video_frames=self._written["video"],
            audio_frames=self._written["audio"],
            dropped=self.dropped,
            skipped=self.skipped,
            writer_cpu_seconds=self._writer_cpu,
        )

    # --- event loop side: check and enqueue, nothing else ----------------------------------

    def _on_video(self, frame: EncodedFrame) -> None:
        if self._state != "running" or not self._supported(frame, _VIDEO_MIME):
            return
        now = self._clock()
        if self._need_keyframe:
            if not (frame.keyframe and frame.complete):
                self.skipped += 1
                if now - self._last_keyframe_request >= self._keyframe_retry_s:
                    self._request_keyframe()
                return
            self._need_keyframe = False
            if self.capture_started_at is None:
                self.capture_started_at = now
        elif (frame.discontinuity and not frame.keyframe) or not frame.complete:
            # A frame this one refers to is missing: nothing decodes until the next keyframe
            # (a keyframe after the gap, such as a replaced leg's first frame, refers to none).
            self.skipped += 1
            self._need_keyframe = True
            self._request_keyframe()
            return
        if not self._enqueue(_Item("video", frame, now)):
            self._need_keyframe = True
            self._request_keyframe()

    def _on_audio(self, frame: EncodedFrame) -> None:
        # Audio before the first video keyframe is dropped: both streams start together.
        if self._state != "running" or self.capture_started_at is None:
            return
        if self._supported(frame, _AUDIO_MIME):
            self._enqueue(_Item("audio", frame, self._clock()))

    def _enqueue(self, item: _Item) -> bool:
        # Only the event loop appends, so the queue never grows past the bound.
        if len(self._queue) >= self._max_queued:
            self.dropped += 1
            return False
        self._queue.append(item)
        return True

    def _supported(self, frame: EncodedFrame, mime: str) -> bool:
        if frame.mime_type.lower() == mime:
            return True
        if frame.mime_type not in self._unsupported_logged:
            self._unsupported_logged.add(frame.mime_type)
            logger.warning(
                "recorder %s: cannot put %s into WebM; not recorded", self.path.name, frame.mime_type
            )
        return False

    def _request_keyframe(self) -> None:
        self._last_keyframe_request = self._clock()
        self._video.request_keyframe()

    # --- writer thread ---------------------------------------------------------------------

    def _run_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while not self._stopping.wait(self._flush_interval_s):
                self._drain()
            self._drain()  # what arrived before stop()
            try:
                self._bytes = self._writer.close()
            except Exception as exc:
                logger.exception("recorder %s: closing the file failed", self.path.name)
                self._error = self._error or exc
        finally:
            self._writer_cpu = time.thread_time()
            # A closed event loop raises RuntimeError: nobody is waiting then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._set_done)

    def _drain(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if self._error is not None:
                continue  # keep emptying the queue; stop() reports the failure
            try:
                self._write(item)
            except Exception as exc:
                logger.exception("recorder %s: writing failed", self.path.name)
                self._error = exc

    def _set_done(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _write(self, item: _Item) -> None:
        frame = item.frame
        if not self._writer.opened:
            if item.kind != "video":
                return  # audio is only queued after the first keyframe; never ahead of it
            self._writer.open(*vp8_dimensions(frame.data))
            self._timelines["video"] = RtpTimeline(frame.clock_rate, time_base=WEBM_TIME_BASE)
            self._origin = item.arrival
        timeline = self._timelines.get(item.kind)
        if timeline is None:
            # The first audio frame: start where it arrived relative to the first keyframe.
            start_ms = max(0, round((item.arrival - self._origin) * 1000))
            timeline = self._timelines[item.kind] = RtpTimeline(
                frame.clock_rate, time_base=WEBM_TIME_BASE, start=start_ms
            )
        pts = timeline.pts(frame.timestamp, item.arrival)
        self._writer.write(item.kind, frame.data, pts, frame.keyframe)
        self._written[item.kind] += 1
