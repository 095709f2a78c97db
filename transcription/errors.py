"""Errors the transcription package raises; each carries a stable code for the API edge and the job."""

from __future__ import annotations

from db import LoketError


class TranscriptionError(LoketError):
    code = "transcription_failed"
    status = 500


class DecodeFailed(TranscriptionError):
    """An untrusted media file could not be decoded to audio; ``reason`` says why, in one line
    (a decoder error, a limit that killed the decoding subprocess, a timeout). Retrying the same
    bytes gives the same answer, so a job should be marked failed with the reason."""

    code = "decode_failed"
    status = 422

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decode the media file: {reason}")
        self.reason = reason


class ModelUnavailable(TranscriptionError):
    """The Whisper model cannot be loaded from local files (models are never downloaded)."""

    code = "model_unavailable"
    status = 503


class ModelCorrupt(ModelUnavailable):
    """A bundled model's files are not the pinned ones (a part missing, truncated, altered or
    from another release); the message names the part and the package to reinstall."""

    code = "model_corrupt"


class UnsupportedLanguage(TranscriptionError):
    """The model cannot transcribe the requested language (an English-only model and any other
    language, or a code Whisper does not know); never a garbage transcript instead."""

    code = "unsupported_language"
    status = 422

    def __init__(self, message: str, *, language: str, model: str) -> None:
        super().__init__(message)
        self.language = language
        self.model = model


class InvalidTranscript(TranscriptionError):
    """A stored transcript document that is not what ``to_json`` writes."""

    code = "invalid_transcript"


class NoRecordings(TranscriptionError):
    """A transcription job found no stored recording left to transcribe (all shredded or erased)."""

    code = "no_recordings"
    status = 404


class TimedOut(TranscriptionError):
    """A run was cancelled for overstaying the worker's transcription timeout. A failed attempt
    like any other, retried after the backoff: the next worker may be less busy, but a call that
    always takes longer ends as failed after the job's attempts."""

    code = "timed_out"
    status = 504
