"""The decoding subprocess: one untrusted media file in, 16 kHz mono s16le PCM out on stdout.

Run by ``transcription.decode`` as ``python -I _decode_child.py PATH MAX_SECONDS`` under the limits
``transcription.sandbox`` sets; never imported by Loket. It imports only the standard library and
PyAV, so a hostile file meets as little code as possible. The PCM follows the file's timeline: a
late start and gaps between packets (Opus DTX, packet loss in a WebRTC recording) become silence, so
segment times are times in the file. Failures are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

SAMPLE_RATE = 16000
EXIT_FAILED = 2
EXIT_NO_MEMORY = 3  # sandbox.EXIT_NO_MEMORY
# Demuxers a recording or an operator's file can need. Playlist and reference formats (HLS, concat,
# ffconcat, image2, ...) would open further files or URLs, so they are not on the list; the file
# protocol is the only one allowed (ffmpeg's format_whitelist / protocol_whitelist options).
FORMATS = "matroska,webm,ogg,wav,w64,mp3,mov,mp4,m4a,3gp,3g2,mj2,flac,aac"
# A jump in timestamps longer than this is filled with silence.
GAP_SECONDS = 0.1
# Undecodable packets tolerated (a glitch in a long recording) before the file counts as corrupt.
MAX_BAD_PACKETS = 10


class Failure(Exception):
    """A reason to give up, printed as the child's last line."""


class _Writer:
    def __init__(self, out: BinaryIO, max_samples: int, max_seconds: float) -> None:
        self.out = out
        self.max_samples = max_samples
        self.max_seconds = max_seconds
        self.samples = 0

    def _count(self, samples: int) -> None:
        self.samples += samples
        if self.samples > self.max_samples:
            raise Failure(f"the audio is longer than the limit of {self.max_seconds:g} s")

    def write(self, frame: Any) -> None:
        self._count(frame.samples)
        # Mono s16 is packed into one plane, which may be padded past the last sample.
        self.out.write(memoryview(frame.planes[0])[: frame.samples * 2])

    def pad_to(self, seconds: float) -> None:
        missing = round(seconds * SAMPLE_RATE) - self.samples
        if missing > GAP_SECONDS * SAMPLE_RATE:
            self._count(missing)
            while missing > 0:
                step = min(missing, SAMPLE_RATE * 10)
                self.out.write(bytes(step * 2))
                missing -= step


def _parse_clock(text: str) -> float | None:
    # Matroska's per-track DURATION tag, e.g. "00:00:10.008000000".
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _declared_seconds(container: Any, stream: Any) -> tuple[float | None, float | None]:
    """What the header says: (the audio stream's duration, the container's duration)."""
    audio: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        audio = float(stream.duration * stream.time_base)
    else:
        tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
        audio = _parse_clock(tag) if tag else None
    whole = container.duration / 1_000_000 if container.duration is not None else None
    if audio is None and len(container.streams) == 1:
        audio = whole
    return audio, whole


def decode(path: str, max_seconds: float, out: BinaryIO) -> None:
    import av
    import av.error

    av.logging.set_level(None)
    options = {"format_whitelist": FORMATS, "protocol_whitelist": "file"}
    try:
        container = av.open("file:" + path, options=options, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise Failure(f"not a readable media file ({exc.strerror or type(exc).__name__})") from exc
    with container:
        if not container.streams.audio:
            raise Failure("the file has no audio stream")
        stream = container.streams.audio[0]
        audio_declared, whole_declared = _declared_seconds(container, stream)
        for declared in (audio_declared, whole_declared):
            if declared is not None and declared > max_seconds:
                raise Failure(f"the file declares {declared:.0f} s, more than the limit of {max_seconds:g} s")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        writer = _Writer(out, int(max_seconds * SAMPLE_RATE), max_seconds)
        bad_packets = 0
        end = 0.0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError):
                    bad_packets += 1
                    if bad_packets > MAX_BAD_PACKETS:
                        raise Failure(f"more than {MAX_BAD_PACKETS} undecodable audio packets") from None
                    continue
                for frame in frames:
                    if frame.time is not None and frame.time >= 0:
                        writer.pad_to(frame.time)
                        end = max(end, frame.time + frame.samples / frame.sample_rate)
                    for resampled in resampler.resample(frame):
                        writer.write(resampled)
            for resampled in resampler.resample(None):
                writer.write(resampled)
        except av.error.FFmpegError as exc:
            raise Failure(f"corrupt media after {end:.1f} s ({exc.strerror or type(exc).__name__})") from exc
    if writer.samples == 0:
        raise Failure("the file contains no decodable audio")
    if audio_declared is not None and end < audio_declared - max(1.0, 0.02 * audio_declared):
        raise Failure(f"truncated: the audio ends at {end:.1f} s of the {audio_declared:.1f} s declared")


def main(argv: list[str]) -> int:
    try:
        decode(argv[1], float(argv[2]), sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except Failure as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    except MemoryError:
        print("MemoryError", file=sys.stderr)
        return EXIT_NO_MEMORY
    except ImportError as exc:
        # Under RLIMIT_AS the dynamic loader cannot map FFmpeg's libraries: that is the memory limit.
        if "failed to map segment" in str(exc):
            print("MemoryError", file=sys.stderr)
            return EXIT_NO_MEMORY
        raise
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # a decoder bug surfacing as any other error: one line, never a traceback
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
