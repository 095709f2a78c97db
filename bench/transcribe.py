"""Transcription accuracy and speed per language: Loket's pipeline against plain faster-whisper.

    python -m bench.transcribe [--runs N] [--languages nl,de,fr,en] [--sweep] [--no-baseline]

For each language, espeak-ng speaks the held-out sentences of ``bench/heldout/<lang>.txt``
(service-desk sentences of a garage or an insurer, no digits, never used by the test suite),
alternating voices and speaking rates, and they are joined into one recording, as a
participant's recording would be: a short pause after most sentences, three seconds of silence
(the other party talking) after every third. On the same audio, in the same run:

- **loket**: ``transcription.transcribe_file`` with the default ``TranscriptionConfig``: the
  sandboxed decoding subprocess, the model configured for the language, float32, beam 5, VAD
  (silences of 10 s or more), the hallucination guards, one thread, and redaction;
- **baseline**: plain faster-whisper with the same model: ``WhisperModel(path, device="cpu")``
  (the model's own compute type and faster-whisper's default threads) and
  ``transcribe(path, language=..., beam_size=5)``, decoding in-process.

CPU seconds are ``time.process_time()`` (every thread of this process) plus the CPU time of
finished child processes (``os.times()``: the decoding subprocess), so ``rtf_per_core`` (audio
seconds per CPU second) does not depend on how many cores a variant used or on what else the
machine is doing. Models are loaded and warmed up on one sentence before timing (a worker loads
its model once); each variant is timed ``--runs`` times and the median reported. The word error
rate is the word-level Levenshtein distance between the sentences and the transcript after
lower-casing and splitting on everything but letters, over the number of reference words.
``loops`` is how often the most repeated 4-word phrase occurs in the transcript (3 or more is a
hallucination loop). Silence and noise (20 s each) must give no words.

``--sweep`` also measures the settings the defaults were chosen against (beam 1, int8, no
conditioning on the previous text, VAD cutting every 2-second silence, ``no_repeat_ngram_size``,
and tiny.en for English). espeak-ng's Dutch, German and
French voices are poor: their word error rates are a floor, not what real speech gets.

Per language it prints ``lang=<x> wer=<y> rtf_per_core=<z> model=<m>`` and the baseline's figures
beside it; the last line is English's: ``rtf_per_core=<x> wer=<y>``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transcription import TranscriptionConfig, WhisperEngine, resolve_model_path, transcribe_file

HELDOUT = Path(__file__).with_name("heldout")
LANGUAGES = ("nl", "de", "fr", "en")  # English last: its figures are the last line
# (espeak-ng voice, words per minute), per sentence in turn.
VOICES = {
    "en": (("en-us", 160), ("en-gb", 150), ("en-us+f3", 150), ("en-gb-x-rp", 165)),
    "nl": (("nl", 140), ("nl+m3", 130), ("nl+f2", 140)),
    "de": (("de", 150), ("de+m3", 140), ("de+f2", 150)),
    "fr": (("fr-fr", 150), ("fr-be", 140), ("fr-fr+f2", 150)),
}
# Between sentences, in turn: a breath, and the other party talking (their own recording).
PAUSE_SECONDS = (0.6, 0.6, 3.0)
SILENCE_SECONDS = 20.0


def sentences(language: str) -> list[str]:
    """The held-out sentences of ``language`` (comment lines start with #)."""
    lines = (HELDOUT / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def words(text: str) -> list[str]:
    """Lower-case words; hyphens and apostrophes split ("pare-brise", "l'usine"), ß is ss."""
    return re.findall(r"[^\W\d_]+|\d+", text.lower().replace("ß", "ss"))


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    row = list(range(len(hypothesis) + 1))
    for i, expected in enumerate(reference, start=1):
        previous, row[0] = row[:], i
        for j, heard in enumerate(hypothesis, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (expected != heard))
    return row[-1] / max(1, len(reference))


def loops(text: str) -> int:
    """How often the most frequent 4-word phrase occurs (0 for fewer than four words)."""
    heard = words(text)
    phrases = Counter(tuple(heard[i : i + 4]) for i in range(len(heard) - 3))
    return max(phrases.values(), default=0)


def speak(text: str, path: Path, voice: str, rate: int) -> None:
    espeak = shutil.which("espeak-ng") or "/usr/bin/espeak-ng"
    subprocess.run([espeak, "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)


def make_recording(directory: Path, language: str) -> tuple[Path, Path, float]:
    """One WAV of the language's sentences with pauses (at espeak-ng's own rate: the decoder
    resamples), and its first sentence alone (for the warm-up); returns the length in seconds."""
    frames, rate = [], 0
    for number, sentence in enumerate(sentences(language)):
        voice, speed = VOICES[language][number % len(VOICES[language])]
        clip = directory / f"{language}{number}.wav"
        speak(sentence, clip, voice, speed)
        pause = PAUSE_SECONDS[number % len(PAUSE_SECONDS)]
        with wave.open(str(clip)) as reader:
            rate = reader.getframerate()
            frames += [reader.readframes(reader.getnframes()), bytes(2 * int(pause * rate))]
    recording = directory / f"{language}.wav"
    write_wav(recording, b"".join(frames), rate)
    return recording, directory / f"{language}0.wav", sum(map(len, frames)) / 2 / rate


def write_wav(path: Path, frames: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return path


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


@dataclasses.dataclass
class Figures:
    wer: float
    rtf: float
    loops: int
    text: str


class Bench:
    """One engine per configuration, one plain faster-whisper model per model directory."""

    def __init__(self, runs: int) -> None:
        self.runs = runs
        self._engines: dict[int, tuple[TranscriptionConfig, WhisperEngine]] = {}
        self._plain: dict[Path, Any] = {}

    def loket(
        self, config: TranscriptionConfig, language: str, recording: Path, warmup: Path, seconds: float
    ) -> Figures:
        engine = self._engine(config)

        def run(path: Path) -> str:
            return asyncio.run(transcribe_file(path, config, engine, language=language)).text

        run(warmup)
        cpu, text = measure(lambda: run(recording), self.runs)
        return self._figures(language, text, seconds / cpu)

    def baseline(self, model: str, language: str, recording: Path, warmup: Path, seconds: float) -> Figures:
        plain = self._plain_model(model)

        def run(audio: Path) -> str:
            segments, _ = plain.transcribe(str(audio), language=language, beam_size=5)
            return " ".join(segment.text.strip() for segment in segments)

        run(warmup)
        cpu, text = measure(lambda: run(recording), self.runs)
        return self._figures(language, text, seconds / cpu)

    def silent_words(
        self, config: TranscriptionConfig, language: str, directory: Path, *, plain: bool = False
    ) -> tuple[int, int]:
        """Words heard in 20 s of digital silence and in 20 s of white noise (-26 dBFS), by Loket
        or (``plain``) by plain faster-whisper."""
        engine = self._engine(config)
        rate = 16000
        quiet = np.zeros(int(SILENCE_SECONDS * rate), dtype="<i2")
        noise = (np.random.default_rng(7).normal(0, 0.05, quiet.size) * 32767).astype("<i2")
        heard = []
        for name, samples in (("silence", quiet), ("noise", noise)):
            path = write_wav(directory / f"{name}.wav", samples.tobytes(), rate)
            if plain:
                segments, _ = self._plain_model(config.model_for(language) or "base").transcribe(
                    str(path), language=language, beam_size=5
                )
                text = " ".join(segment.text for segment in segments)
            else:
                text = asyncio.run(transcribe_file(path, config, engine, language=language)).text
            heard.append(len(words(text)))
        return heard[0], heard[1]

    def _plain_model(self, model: str) -> Any:
        path = resolve_model_path(model)
        if path not in self._plain:
            from faster_whisper import WhisperModel

            self._plain[path] = WhisperModel(str(path), device="cpu")
        return self._plain[path]

    def _engine(self, config: TranscriptionConfig) -> WhisperEngine:
        key = id(config)
        if key not in self._engines:
            self._engines[key] = (config, WhisperEngine(config))
        return self._engines[key][1]

    @staticmethod
    def _figures(language: str, text: str, rtf: float) -> Figures:
        reference = words(" ".join(sentences(language)))
        return Figures(word_error_rate(reference, words(text)), rtf, loops(text), text)


def sweep_configs(default: TranscriptionConfig, language: str) -> dict[str, TranscriptionConfig]:
    """The settings the defaults were chosen against."""
    other_type = "int8" if default.compute_type != "int8" else "float32"
    configs = {
        "beam 1": dataclasses.replace(default, beam_size=1),
        f"compute_type={other_type}": dataclasses.replace(default, compute_type=other_type),
        f"condition_on_previous_text={not default.condition_on_previous_text}": dataclasses.replace(
            default, condition_on_previous_text=not default.condition_on_previous_text
        ),
        "VAD cutting every 2 s silence": dataclasses.replace(default, vad_min_silence_seconds=2.0),
        "no_repeat_ngram_size=3": dataclasses.replace(default, no_repeat_ngram_size=3),
    }
    if language == "en":
        tiny = dataclasses.replace(default, models={"*": "tiny.en"})
        configs["tiny.en beam 5"] = tiny
        configs["tiny.en beam 1"] = dataclasses.replace(tiny, beam_size=1)
    return configs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1, help="timed transcriptions per variant (median)")
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="comma-separated, English last")
    parser.add_argument("--sweep", action="store_true", help="also measure the alternative settings")
    parser.add_argument("--no-baseline", action="store_true", help="skip plain faster-whisper")
    parser.add_argument("--show", action="store_true", help="print every transcript")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed to generate the speech")
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    config = TranscriptionConfig()
    bench = Bench(args.runs)
    sweeps = {code: sweep_configs(config, code) for code in languages} if args.sweep else {}
    print(
        f"loket: models={dict(config.models)} compute_type={config.compute_type} "
        f"beam_size={config.beam_size} vad={config.vad_filter} "
        f"condition_on_previous_text={config.condition_on_previous_text} "
        f"cpu_threads={config.cpu_threads}; {os.cpu_count()} cores"
    )
    table: list[str] = []
    last: Figures | None = None
    with tempfile.TemporaryDirectory(prefix="loket-bench-") as tmp:
        for language in languages:
            directory = Path(tmp) / language
            directory.mkdir()
            recording, warmup, seconds = make_recording(directory, language)
            model = config.model_for(language) or "?"
            ours = bench.loket(config, language, recording, warmup, seconds)
            print(f"lang={language} wer={ours.wer:.3f} rtf_per_core={ours.rtf:.1f} model={model}")
            print(f"  loket: loops={ours.loops} audio={seconds:.1f}s")
            if args.show:
                print(f"    {ours.text}")
            row = f"| {language} | {model} | {ours.wer:.3f} |"
            if not args.no_baseline:
                base = bench.baseline(model, language, recording, warmup, seconds)
                print(
                    f"  baseline (plain faster-whisper, beam 5, same model and audio): wer={base.wer:.3f} "
                    f"rtf_per_core={base.rtf:.1f} loops={base.loops}; "
                    f"wer loket-baseline={ours.wer - base.wer:+.3f} speed ratio={ours.rtf / base.rtf:.2f}"
                )
                if args.show:
                    print(f"    {base.text}")
                row += f" {base.wer:.3f} | {ours.wer - base.wer:+.3f} | {ours.rtf:.1f} | {base.rtf:.1f} |"
            quiet, noise = bench.silent_words(config, language, directory)
            line = f"  silence words={quiet} noise words={noise}"
            if not args.no_baseline:
                plain_quiet, plain_noise = bench.silent_words(config, language, directory, plain=True)
                line += f" (baseline: silence words={plain_quiet} noise words={plain_noise})"
            print(line)
            row += f" {ours.loops} | {quiet + noise} |"
            table.append(row)
            for name, variant in sweeps.get(language, {}).items():
                other = bench.loket(variant, language, recording, warmup, seconds)
                print(
                    f"  sweep [{name}] wer={other.wer:.3f} rtf_per_core={other.rtf:.1f} "
                    f"model={variant.model_for(language)} loops={other.loops}"
                )
                if args.show:
                    print(f"    {other.text}")
            last = ours
    print(
        "| lang | model | WER loket | WER baseline | loket-baseline | rtf_per_core loket | "
        "rtf_per_core baseline | max 4-word repeats | words from silence+noise |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(table))
    if last is not None:
        # A call is two recordings of about its length; one worker transcribes on one core.
        print(
            f"capacity: one worker (one core) transcribes {last.rtf:.1f} hours of one party's recording "
            f"per hour, about {last.rtf / 2:.1f} hours of two-party calls; add workers to keep up"
        )
        print(f"rtf_per_core={last.rtf:.1f} wer={last.wer:.3f}")


if __name__ == "__main__":
    main()
