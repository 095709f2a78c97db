"""The value objects every other module passes around: a ``Segment`` of speech and a ``Transcript``."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of recognised speech; times in seconds from the start of the recording (or of the
    call, once placed on a call's timeline). ``speaker`` is a label such as "Visitor" once merged.
    ``avg_logprob`` and ``no_speech_prob`` are Whisper's confidence figures, where known;
    ``temperature`` is the one it was decoded at (above 0: the window was decoded again, by
    sampling, because the first try looped or was unsure)."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("segment times must be finite")
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"segment times must satisfy 0 <= start <= end, not {self.start}..{self.end}")


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one transcription produced: the segments in time order and how they were made.

    ``duration`` is the audio's length in seconds (for a call: from the call's start to the end of
    the last recording); ``redacted`` says whether PII redaction ran over the text.
    """

    language: str
    model: str
    duration: float
    segments: tuple[Segment, ...]
    redacted: bool = False

    def __post_init__(self) -> None:
        if not self.language:
            raise ValueError("a transcript has a language")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ValueError("duration must be a finite number of seconds")

    @property
    def text(self) -> str:
        """All segment texts joined by spaces (for search and for tests)."""
        return " ".join(segment.text for segment in self.segments)
