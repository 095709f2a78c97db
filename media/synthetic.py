"""Generated media for tests, benchmarks and health checks: no camera, no files.

:class:`SyntheticVideoTrack` produces 640x480 frames with moving content at a fixed rate and
stamps each frame's number into it, in blocks large enough to survive lossy VP8, so that a
receiver can tell exactly which frames arrived (:func:`read_frame_number`).
:class:`SyntheticAudioTrack` produces a 400 Hz tone in 20 ms frames. :class:`FrameCounter`
reads a received track and counts what arrives.

Encoding (and decoding) is what makes such a client dear: libvpx at 640x480, 20 times a
second, per peer. So :func:`encoded_loop` encodes the same content once per process, VP8 and
Opus, and :class:`LoopedVideoTrack` / :class:`LoopedAudioTrack` hand it out again and again
(:meth:`LoopedVideoTrack.take_frame`): to the synthetic peer's senders, which send it as RTP
packets cut once per process (``media.synthetic_rtp``), or as ``av.Packet`` objects to an
aiortc sender, which packetizes them without encoding. Each video frame
leaves with its number in a trailer (:func:`frame_trailer`), read back from the last RTP
packet of the frame without decoding (``media.synthetic_peer``). A keyframe request restarts
the loop at its first frame, a keyframe.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import functools
import hashlib
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler, VideoFrame
from av.video.plane import VideoPlane

VIDEO_CLOCK_RATE = 90000
AUDIO_CLOCK_RATE = 48000
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
        frame = self.frame(number)
        self.frames_sent += 1
        return frame

    def frame(self, number: int) -> VideoFrame:
        """Frame ``number``, painted now."""
        frame = VideoFrame(self.width, self.height, "yuv420p")
        self._paint(frame, number)
        frame.pts = number * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
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
        frame = self.frame(number)
        self.frames_sent += 1
        return frame

    def frame(self, number: int) -> AudioFrame:
        """Frame ``number`` (20 ms of the tone; 400 Hz fits it exactly eight times)."""
        frame = AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        frame.planes[0].update(self._samples)
        frame.pts = number * self.samples_per_frame
        frame.sample_rate = self.sample_rate
        frame.time_base = fractions.Fraction(1, self.sample_rate)
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


# --- pre-encoded media, sent in a loop ---------------------------------------------------

#: Four bytes that open a pre-encoded video frame's trailer; its number (32 bits) follows.
FRAME_TRAILER_MAGIC = b"LKT\x01"
FRAME_TRAILER_SIZE = 8
_VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
_AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_CLOCK_RATE)
_OPUS_FRAME_SAMPLES = 960  # 20 ms


def frame_trailer(number: int) -> bytes:
    """The bytes appended to pre-encoded video frame ``number``.

    A VP8 frame's last partition runs to the end of the frame (RFC 6386 section 9.5) and a
    decoder stops reading it once every macroblock is decoded, so decoders (libvpx's and
    FFmpeg's) ignore bytes after it; a forwarder passes them on and a recording keeps them.
    """
    return FRAME_TRAILER_MAGIC + struct.pack("!I", number & 0xFFFFFFFF)


def read_frame_trailer(data: bytes) -> int | None:
    """The frame number in the trailer that ends ``data``; None when there is none."""
    if len(data) < FRAME_TRAILER_SIZE or data[-FRAME_TRAILER_SIZE:-4] != FRAME_TRAILER_MAGIC:
        return None
    return int.from_bytes(data[-4:], "big")


def is_vp8_keyframe(frame: bytes) -> bool:
    """Whether a VP8 frame is a keyframe: bit 0 of its frame tag is 0 (RFC 6386 section 9.1)."""
    return bool(frame) and not frame[0] & 0x01


@dataclass(frozen=True, slots=True)
class EncodedLoop:
    """Media encoded once, to be sent in a loop: VP8 frames at ``fps`` starting with a
    keyframe, and 20 ms Opus frames."""

    video: tuple[bytes, ...]
    audio: tuple[bytes, ...]
    fps: int

    def __post_init__(self) -> None:
        if not self.video or not self.audio or self.fps < 1:
            raise ValueError("an encoded loop needs video and audio frames and a positive rate")
        if not is_vp8_keyframe(self.video[0]):
            raise ValueError("an encoded loop must start with a keyframe")


@functools.cache
def encoded_loop(
    *, width: int = 640, height: int = 480, fps: int = 20, video_bitrate: int = 500_000, frames: int = 120
) -> EncodedLoop:
    """:class:`SyntheticVideoTrack`'s first ``frames`` frames in VP8 and one second of
    :class:`SyntheticAudioTrack`'s tone in Opus, encoded the way aiortc encodes (libvpx
    realtime at a constant ``video_bitrate``, aiortc's default 500 kbit/s; Opus VoIP, stereo).

    The default 120 frames are one whole scroll of the texture (4 rows a frame, 480 rows):
    the loop has no visible seam but its keyframe, one every 6 s. Cached: the peers of a
    process share one encoding (about 0.2 s of CPU).
    """
    video = _encode_vp8(SyntheticVideoTrack(width=width, height=height, fps=fps), frames, video_bitrate)
    return EncodedLoop(video=video, audio=_encode_opus(SyntheticAudioTrack(), 50), fps=fps)


def _encode_vp8(track: SyntheticVideoTrack, frames: int, bitrate: int) -> tuple[bytes, ...]:
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = track.width, track.height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, track.fps)
    codec.bit_rate = bitrate
    codec.gop_size = frames  # no keyframe but the first
    codec.qmin, codec.qmax = 2, 56
    # aiortc's Vp8Encoder settings (aiortc/codecs/vpx.py), on one thread: libvpx's threads
    # only spin on a loaded machine, and one thread encodes the loop in a fraction of a second.
    codec.thread_count = 1
    codec.options = {
        "bufsize": str(bitrate),
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "noise-sensitivity": "4",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "1",
        "undershoot-pct": "100",
    }
    encoded: list[bytes] = []
    for number in range(frames):
        frame = track.frame(number)
        frame.pts, frame.time_base = number, codec.time_base
        encoded += [bytes(packet) for packet in codec.encode(frame)]
    encoded += [bytes(packet) for packet in codec.encode(None)]
    return tuple(encoded)


def _encode_opus(track: SyntheticAudioTrack, frames: int) -> tuple[bytes, ...]:
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.bit_rate = 64000
    codec.format = "s16"
    codec.layout = "stereo"
    codec.sample_rate = AUDIO_CLOCK_RATE
    codec.time_base = _AUDIO_TIME_BASE
    codec.options = {"application": "voip"}
    resampler = AudioResampler(
        format="s16", layout="stereo", rate=AUDIO_CLOCK_RATE, frame_size=_OPUS_FRAME_SAMPLES
    )
    encoded: list[bytes] = []
    for number in range(frames):
        for frame in resampler.resample(track.frame(number)):
            encoded += [bytes(packet) for packet in codec.encode(frame)]
    encoded += [bytes(packet) for packet in codec.encode(None)]
    return tuple(encoded)


class LoopedVideoTrack(MediaStreamTrack):
    """The loop's VP8 frames at its rate, as ``av.Packet`` objects, each with its number in a trailer.

    :meth:`request_keyframe` makes the next frame the loop's first, a keyframe.
    """

    kind = "video"

    def __init__(self, loop: EncodedLoop) -> None:
        super().__init__()
        self.loop = loop
        self.frames_sent = 0
        self.keyframe_requests = 0
        #: When each frame (by number) was handed to the sender (``time.monotonic()``).
        self.sent_at: dict[int, float] = {}
        self._index = 0
        self._pacer = _Pacer(1 / loop.fps)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._index = 0

    def take_frame(self) -> tuple[int, int]:
        """The next frame to send, ``(index in the loop, number)``, counted as sent now."""
        index, number = self._index, self.frames_sent
        self._index = (index + 1) % len(self.loop.video)
        self.frames_sent += 1
        self.sent_at[number] = time.monotonic()
        return index, number

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self.frames_sent)
        index, number = self.take_frame()
        packet = av.Packet(self.loop.video[index] + frame_trailer(number))
        packet.pts = number * VIDEO_CLOCK_RATE // self.loop.fps
        packet.time_base = _VIDEO_TIME_BASE
        return packet


class LoopedAudioTrack(MediaStreamTrack):
    """The loop's Opus frames, one every 20 ms, as ``av.Packet`` objects."""

    kind = "audio"

    def __init__(self, loop: EncodedLoop) -> None:
        super().__init__()
        self.loop = loop
        self.frames_sent = 0
        self._pacer = _Pacer(_OPUS_FRAME_SAMPLES / AUDIO_CLOCK_RATE)

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self.frames_sent)
        index, number = self.take_frame()
        packet = av.Packet(self.loop.audio[index])
        packet.pts = number * _OPUS_FRAME_SAMPLES
        packet.time_base = _AUDIO_TIME_BASE
        return packet

    def take_frame(self) -> tuple[int, int]:
        """The next frame to send, ``(index in the loop, number)``, counted as sent now."""
        number = self.frames_sent
        self.frames_sent += 1
        return number % len(self.loop.audio), number


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
