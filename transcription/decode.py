"""Decode an untrusted media file to 16 kHz mono float32 PCM, in a sandboxed subprocess.

Why PyAV in a child rather than the ffmpeg command: PyAV is already a dependency with its own
bundled FFmpeg libraries (the recorder uses it), so the worker image needs no ``ffmpeg`` binary; the
child is a 100-line script we control (demuxer and protocol whitelists, a duration check before
decoding, gap filling, truncation detection), and faster-whisper itself decodes with PyAV the same
way (s16 at 16 kHz, scaled to float32). The process boundary is what makes it safe: a decoder bug
a hostile file triggers kills the child, never the worker.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from transcription.config import DecodeLimits
from transcription.errors import DecodeFailed
from transcription.sandbox import run_limited

SAMPLE_RATE = 16000
_CHILD = Path(__file__).with_name("_decode_child.py")


def _regular_file(path: Path) -> Path:
    if not path.exists():
        raise DecodeFailed(f"no such file: {path.name}")
    if not path.is_file():
        # A device, FIFO or directory: /dev/zero would otherwise "decode" forever.
        raise DecodeFailed(f"not a regular file: {path.name}")
    return path.resolve()


async def decode_audio(path: str | os.PathLike[str], limits: DecodeLimits) -> NDArray[np.float32]:
    """The audio of ``path`` as 16 kHz mono float32 samples in [-1, 1).

    The file is opened and decoded only in a subprocess with ``limits``; any failure (not a media
    file, no audio, corrupt or truncated data, a limit hit, a timeout) raises ``DecodeFailed``.
    """
    file = await asyncio.to_thread(_regular_file, Path(path))
    max_bytes = int(limits.max_audio_seconds * SAMPLE_RATE) * 2
    pcm = await run_limited(
        [sys.executable, "-I", str(_CHILD), str(file), repr(limits.max_audio_seconds)],
        limits,
        max_output_bytes=max_bytes,
    )
    if len(pcm) % 2:
        raise DecodeFailed("the decoder wrote a partial sample")
    samples: NDArray[np.float32] = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    samples /= 32768.0
    return samples
