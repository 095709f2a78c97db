"""Settings of the transcription package, built once by the shell and passed in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

MIB = 1024 * 1024
# The regions whose national phone-number formats redaction recognises (besides "+" numbers):
# where Loket's visitors call from (the Benelux, Germany, France, Austria, Switzerland) and GB.
DEFAULT_PHONE_REGIONS = ("NL", "BE", "LU", "DE", "AT", "CH", "FR", "GB")
# The bundled multilingual model (transcription.bundled.WHISPER_BASE).
DEFAULT_MODEL = "base"
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What decoding one untrusted media file may cost before its subprocess is killed.

    ``cpu_seconds`` and ``memory_bytes`` are kernel limits (RLIMIT_CPU, RLIMIT_AS) on the decoding
    subprocess; ``timeout_seconds`` is wall-clock time seen from the caller; ``max_audio_seconds``
    bounds the decoded audio (a tiny file can declare or contain hours of Opus silence).
    """

    cpu_seconds: int = 120
    memory_bytes: int = 1024 * MIB
    timeout_seconds: float = 300.0
    max_audio_seconds: float = 3 * 3600.0

    def __post_init__(self) -> None:
        if self.cpu_seconds < 1:
            raise ValueError("cpu_seconds must be at least 1 (the kernel counts whole seconds)")
        if self.memory_bytes < 16 * MIB:
            raise ValueError("memory_bytes must be at least 16 MiB")
        if not self.timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        if not self.max_audio_seconds > 0:
            raise ValueError("max_audio_seconds must be positive")


@dataclass(frozen=True, slots=True)
class TranscriptionConfig:
    """Which Whisper model serves which language, how it decodes, the decoding limits, and the
    redaction regions.

    ``models`` maps a language code ("nl") or ``"*"`` (every other language, and language
    detection) to a model: ``"base"`` (multilingual) or ``"tiny.en"`` (English only), both bundled
    in Python packages; a faster-whisper name found in the local Hugging Face cache; or a
    CTranslate2 model directory (small, medium, large-v3 where an operator has them). Nothing is
    downloaded at run time. Bundled ``base`` is assembled once into ``model_dir`` (None: the
    user's cache, ``transcription.bundled.default_model_dir``).

    Accuracy first: transcription runs in the worker after the call, where a right word matters
    more than a second. The defaults were chosen on the held-out sets of ``bench/transcribe.py``
    (figures in README.md, "Transcription"): base for every language (English too: 0.039 against
    tiny.en's 0.097), beam search (5), float32 (int8 is twice as fast and moved the WER by -0.06
    to +0.10 depending on the language), one thread per transcription (run more workers for
    more cores).

    Against hallucination: voice-activity detection cuts out silences of ``vad_min_silence_seconds``
    or more (the minutes a participant listens while the other party talks, where Whisper invents
    captions), and nothing is decoded where there is no speech at all; speech with its ordinary
    pauses is decoded whole (cutting every 2-second pause took French from 0.316 to 0.414). The
    compression-ratio and log-probability thresholds make a looping or unsure window be decoded
    again at a higher temperature, and above 0.5 faster-whisper drops the previous text from the
    prompt, so a loop cannot feed itself; conditioning on the previous text otherwise stays on
    (turning it off cost 0.004 to 0.11 of WER). ``transcription.guards`` then collapses any loop
    left and drops caption hallucinations. ``device`` "cuda" (with a ``compute_type`` such as
    float16) uses a GPU where there is one.
    """

    models: Mapping[str, str] = field(default_factory=lambda: {"*": DEFAULT_MODEL})
    model_dir: Path | None = None
    device: str = "cpu"
    compute_type: str = "float32"
    cpu_threads: int = 1
    beam_size: int = 5
    vad_filter: bool = True
    vad_min_silence_seconds: float = 10.0
    condition_on_previous_text: bool = True
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    no_repeat_ngram_size: int = 0
    decode: DecodeLimits = DecodeLimits()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError('models must name at least one model, e.g. {"*": "base"}')
        for language, model in self.models.items():
            if language != "*" and not _LANGUAGE.fullmatch(language):
                raise ValueError(f'models keys are language codes such as "nl", or "*"; not {language!r}')
            if not model.strip():
                raise ValueError(f"the model for {language!r} must be a name or a path")
        # Frozen all the way down: nobody changes the models of a running engine.
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {', '.join(_DEVICES)}, not {self.device!r}")
        if not self.compute_type:
            raise ValueError("compute_type must be set (e.g. int8, float16, float32)")
        if self.cpu_threads < 1:
            raise ValueError("cpu_threads must be at least 1")
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        if not self.vad_min_silence_seconds > 0:
            raise ValueError("vad_min_silence_seconds must be positive")
        if self.no_repeat_ngram_size < 0:
            raise ValueError("no_repeat_ngram_size must be 0 (off) or more")
        if any(len(region) != 2 or not region.isupper() for region in self.phone_regions):
            raise ValueError("phone_regions are ISO 3166 alpha-2 codes such as NL")

    def model_for(self, language: str | None) -> str | None:
        """The model configured for ``language`` (a Whisper code such as "nl"), else the ``"*"``
        one; None when neither is configured. ``None`` asks for the detection model: ``"*"``,
        else the first one named."""
        if language is None:
            return self.models.get("*") or next(iter(self.models.values()))
        return self.models.get(language) or self.models.get("*")
