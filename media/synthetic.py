"""Generated media for tests, benchmarks and health checks: no camera, no files.

:class:`SyntheticVideoTrack` produces 640x480 frames with moving content at a fixed rate and
stamps each frame's number into it, in blocks large enough to survive lossy VP8, so that a
receiver can tell exactly which frames arrived (:func:`read_frame_number`).
:class:`SyntheticAudioTrack` produces a 400 Hz tone in 20 ms frames. :class:`FrameCounter`
reads a received track and counts what arrives.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import hashlib
import math
import time
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from av.video.plane import VideoPlane

VIDEO_CLOCK_RATE = 90000
_STAMP_BITS = 16
_STAMP_ROWS = 32
_DARK, _LIGHT = 16, 235


class _Pacer:
    """Holds frame ``n`` back until ``n * period`` seconds after the first one, like a camera."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._start: float | None = None

    async def wait(self, number: int) -> None:
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + number * self._period - time.monotonic()))


class SyntheticVideoTrack(MediaStreamTrack):
    """Moving 8-bit texture, ``width`` x ``height`` at ``fps``, each frame stamped with its number."""

    kind = "video"

    def __init__(self, *, width: int = 640, height: int = 480, fps: int = 20) -> None:
        super().__init__()
        if width % (_STAMP_BITS * 2) or height % 2 or height <= _STAMP_ROWS:
            raise ValueError("width must be a multiple of 32 and height even and above 32")
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        self._block = width // _STAMP_BITS
        self._pacer = _Pacer(1 / fps)
        self._texture = _texture(width, height)
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        number = self.frames_sent
        await self._pacer.wait(number)
        frame = VideoFrame(self.width, self.height, "yuv420p")
        self._paint(frame, number)
        frame.pts = number * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self.frames_sent += 1
        return frame

    def _paint(self, frame: VideoFrame, number: int) -> None:
        width, height = self.width, self.height
        # Scroll the texture 4 rows per frame: real motion for the encoder.
        shift = (number * 4 % height) * width
        body = self._texture[shift:] + self._texture[:shift]
        stamp_row = b"".join(
            bytes([_LIGHT if number >> bit & 1 else _DARK]) * self._block for bit in range(_STAMP_BITS)
        )
        luma = stamp_row * _STAMP_ROWS + body[_STAMP_ROWS * width :]
        _fill(frame.planes[0], luma, width, height)
        _fill(frame.planes[1], self._chroma, width // 2, height // 2)
        _fill(frame.planes[2], self._chroma, width // 2, height // 2)


def read_frame_number(frame: VideoFrame) -> int:
    """The number :class:`SyntheticVideoTrack` stamped into a (decoded) frame."""
    plane = frame.planes[0]
    stride = plane.line_size
    block = frame.width // _STAMP_BITS
    data = memoryview(plane).cast("B")
    row = (_STAMP_ROWS // 2) * stride
    number = 0
    for bit in range(_STAMP_BITS):
        if data[row + bit * block + block // 2] > (_DARK + _LIGHT) // 2:
            number |= 1 << bit
    return number


class SyntheticAudioTrack(MediaStreamTrack):
    """A 400 Hz tone, 48 kHz mono, in 20 ms frames."""

    kind = "audio"
    sample_rate = 48000
    samples_per_frame = 960

    def __init__(self) -> None:
        super().__init__()
        self.frames_sent = 0
        self._pacer = _Pacer(self.samples_per_frame / self.sample_rate)
        tone = array.array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * 400 * i / self.sample_rate))
                for i in range(self.samples_per_frame)
            ),
        )
        self._samples = tone.tobytes()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        number = self.frames_sent
        await self._pacer.wait(number)
        frame = AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        frame.planes[0].update(self._samples)
        frame.pts = number * self.samples_per_frame
        frame.sample_rate = self.sample_rate
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self.frames_sent += 1
        return frame


@dataclass
class FrameCounter:
    """Reads a received track to its end, counting frames (and video frame numbers)."""

    track: MediaStreamTrack
    frames: int = 0
    first_frame_at: float | None = None
    numbers: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait_first_frame(self, timeout: float) -> float:
        """Wait for the first frame; returns when it arrived (``time.monotonic()``)."""
        deadline = time.monotonic() + timeout
        while self.first_frame_at is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {self.track.kind} frame within {timeout} s")
            await asyncio.sleep(0.01)
        return self.first_frame_at

    async def _run(self) -> None:
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if self.first_frame_at is None:
                self.first_frame_at = now
            self.frames += 1
            self.arrivals.append(now)
            if isinstance(frame, VideoFrame):
                self.numbers.append(read_frame_number(frame))


def _texture(width: int, height: int) -> bytes:
    """Deterministic pseudo-random luma in 4x4 blocks, like a detailed scene."""
    rows = []
    for block_row in range(height // 4):
        values = hashlib.shake_128(block_row.to_bytes(4, "big")).digest(width // 4)
        row = bytes(v // 2 + 64 for v in values for _ in range(4))
        rows.append(row * 4)
    return b"".join(rows)


def _fill(plane: VideoPlane, data: bytes, width: int, height: int) -> None:
    """Copy tightly packed rows into a plane whose rows may be padded (``line_size``)."""
    line_size = plane.line_size
    if line_size != width:
        data = b"".join(data[r * width : (r + 1) * width] + bytes(line_size - width) for r in range(height))
    plane.update(data)
