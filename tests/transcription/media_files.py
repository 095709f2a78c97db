"""Test media made at test time: espeak-ng speech (WAV), Opus-in-WebM written with PyAV, and the
word error rate to compare a transcript with what was spoken."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.conftest import service_missing


def speak(text: str, path: Path, *, voice: str = "en-us", rate: int = 150, gap: int = 0) -> Path:
    """Synthesise ``text`` into a WAV file with espeak-ng (22.05 kHz mono); ``gap`` is a pause
    between words, in units of 10 ms."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        service_missing("espeak-ng is not installed (it generates the test speech)")
        raise AssertionError("unreachable")
    subprocess.run([espeak, "-v", voice, "-s", str(rate), "-g", str(gap), "-w", str(path), text], check=True)
    return path


def dictate(words: Sequence[str], path: Path, *, voice: str, rate: int = 140, pause: float = 0.5) -> Path:
    """Each of ``words`` said on its own with ``pause`` seconds between them, as someone dictates
    a number digit by digit (espeak-ng runs digits together into one slurred word otherwise)."""
    pieces: list[np.ndarray] = []
    rate_hz = 22050
    for number, word in enumerate(words):
        samples, rate_hz = read_wav(
            speak(word, path.with_name(f"{path.stem}-{number}.wav"), voice=voice, rate=rate)
        )
        if pieces:
            pieces.append(np.zeros(int(pause * rate_hz), dtype=np.float32))
        pieces.append(samples)
    return write_wav(path, np.concatenate(pieces), rate_hz)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Mono float32 samples in [-1, 1) as 16-bit WAV."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1 - 2**-15) * 32768).astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as reader:
        frames = reader.readframes(reader.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, reader.getframerate()


def write_webm(path: Path, chunks: Sequence[tuple[float, np.ndarray]], rate: int) -> Path:
    """Opus in WebM, as the recorder writes it; ``chunks`` are (start seconds, mono float32 samples)
    so that a chunk may start after a gap, like Opus DTX or packet loss leaves one."""
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for start, samples in chunks:
            frame = av.AudioFrame.from_ndarray(
                samples.astype(np.float32)[None, :], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = round(start * rate)
            frame.time_base = Fraction(1, rate)
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def tone(seconds: float, rate: int = 48000, frequency: float = 440.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z]+", " ", text.lower().replace("'", "")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    expected, heard = words(reference), words(hypothesis)
    row = list(range(len(heard) + 1))
    for i, word in enumerate(expected, start=1):
        previous, row[0] = row[:], i
        for j, other in enumerate(heard, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other))
    return row[-1] / max(1, len(expected))
