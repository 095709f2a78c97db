"""Writing encoded VP8 and Opus frames into a WebM file, untouched: ``WebmWriter``.

Only muxing: no codec is ever opened. VP8 frames go into a stream made with PyAV's
``add_mux_stream`` (no codec context at all). The Opus stream is copied from a template
stream whose codec context is never opened, so that it can carry the channel count and the
``OpusHead`` the Matroska codec mapping requires for ``A_OPUS`` (a bare mux stream writes
``Channels 0`` and no ``CodecPrivate``, which players may refuse). The recorder turns RTP
timestamps into the millisecond pts WebM stores (:data:`WEBM_TIME_BASE`) with
:class:`~media.rtp.RtpTimeline`.
"""

from __future__ import annotations

import fractions
import io
import os
import struct
from pathlib import Path
from typing import Literal

import av
from av.container import OutputContainer
from av.stream import Stream

#: WebM's default TimestampScale: timestamps are in milliseconds.
WEBM_TIME_BASE = fractions.Fraction(1, 1000)

_VP8_START_CODE = b"\x9d\x01\x2a"
_OPUS_SAMPLE_RATE = 48000
# WebRTC signals Opus as two channels (RFC 7587 section 7: "opus/48000/2") whatever the
# sender encodes; an Opus decoder set up for two decodes mono frames too.
_OPUS_CHANNELS = 2


def vp8_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a VP8 keyframe header (RFC 6386 section 9.1).

    A keyframe's 3-byte frame tag is followed by the start code 0x9d 0x01 0x2a and two
    little-endian 16-bit fields whose low 14 bits are the width and the height (the top two
    bits are an upscaling hint).
    """
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != _VP8_START_CODE:
        raise ValueError("not a VP8 keyframe")
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    if not width or not height:
        raise ValueError("VP8 keyframe without dimensions")
    return width, height


def opus_head(channels: int = _OPUS_CHANNELS, pre_skip: int = 0) -> bytes:
    """The Opus identification header (RFC 7845 section 5.1), WebM's ``CodecPrivate``.

    Pre-skip is 0: a WebRTC receiver plays every decoded sample, and so does this recording,
    which keeps its audio timestamps equal to the RTP ones.
    """
    # magic, version 1, channel count, pre-skip, input sample rate, output gain 0 dB,
    # channel mapping family 0 (mono or stereo, no mapping table).
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, _OPUS_SAMPLE_RATE, 0, 0)


class WebmWriter:
    """A WebM file with one VP8 video and one Opus audio stream, fed encoded frames.

    Not thread-safe: one thread opens, writes and closes it (the recorder's writer thread).
    The file is created by :meth:`open`, not before.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._container: OutputContainer | None = None
        self._streams: dict[str, Stream] = {}
        self.closed = False

    @property
    def opened(self) -> bool:
        return self._container is not None

    @property
    def streams(self) -> dict[str, Stream]:
        """The output streams by kind (for tests: none of them has an open codec context)."""
        return dict(self._streams)

    def open(self, width: int, height: int) -> None:
        """Create the file, with the video size of the first keyframe."""
        if self._container is not None or self.closed:
            raise RuntimeError("this WebM writer was already opened")
        # A cluster at least every second, written out as it closes: a process killed mid-
        # recording (a media node SIGKILLed) leaves a file that holds all but its last second,
        # instead of a header alone (the muxer would otherwise keep up to 5 s, or 5 MB, in memory).
        container = av.open(
            str(self.path), "w", format="webm", options={"cluster_time_limit": "1000", "flush_packets": "1"}
        )
        try:
            video = container.add_mux_stream("vp8", width=width, height=height)
            video.time_base = WEBM_TIME_BASE
            audio = container.add_stream_from_template(_opus_template())
            # The copied codec context is marked as initialised from a template, so PyAV
            # never opens it; its parameters (with this extradata) go to the muxer as they are.
            audio.codec_context.extradata = opus_head()
            audio.time_base = WEBM_TIME_BASE
        except BaseException:
            container.close()
            raise
        self._container = container
        self._streams = {"video": video, "audio": audio}

    def write(self, kind: Literal["audio", "video"], data: bytes, pts_ms: int, keyframe: bool) -> None:
        """Mux one encoded frame at ``pts_ms`` (strictly increasing per stream)."""
        if self._container is None:
            raise RuntimeError("open() the WebM writer first")
        packet = av.Packet(data)
        packet.stream = self._streams[kind]
        packet.time_base = WEBM_TIME_BASE
        packet.pts = packet.dts = pts_ms
        packet.is_keyframe = keyframe
        self._container.mux(packet)

    def close(self) -> int:
        """Write the trailer (cues, duration) and close the file; returns its size in bytes."""
        if not self.closed:
            self.closed = True
            if self._container is not None:
                self._container.close()
        # No file when nothing was written, or when creating it failed.
        return self.path.stat().st_size if self._container is not None and self.path.exists() else 0


def _opus_template() -> Stream:
    """An Opus stream (48 kHz, two channels) to copy stream parameters from.

    It lives in a throwaway in-memory container that is never written; the codec context
    ``add_stream`` creates is configured, never opened.
    """
    scratch = av.open(io.BytesIO(), "w", format="webm")
    try:
        return scratch.add_stream("libopus", rate=_OPUS_SAMPLE_RATE)
    finally:
        scratch.close()
