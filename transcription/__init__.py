"""Transcription: the Whisper engine (faster-whisper), sandboxed decoding of untrusted media,
transcript formats (JSON, WebVTT), PII redaction, and the speaker-labelled timeline of a call.

faster-whisper is imported only when a model is first loaded.
"""

from transcription.config import DEFAULT_PHONE_REGIONS, DecodeLimits, TranscriptionConfig
from transcription.decode import SAMPLE_RATE, decode_audio
from transcription.engine import WhisperEngine, resolve_model_path
from transcription.errors import (
    DecodeFailed,
    InvalidTranscript,
    ModelUnavailable,
    NoRecordings,
    TranscriptionError,
    UnsupportedLanguage,
)
from transcription.formats import from_json, to_json, to_vtt, transcript_to_dict
from transcription.job import JobPolicy, TranscriptionJob
from transcription.redaction import PiiKind, PiiMatch, Redactor, iban_is_valid
from transcription.timeline import SPEAKER_LABELS, merge_timeline, speaker_label
from transcription.transcribe import transcribe_file
from transcription.transcript import Segment, Transcript

__all__ = [
    "DEFAULT_PHONE_REGIONS",
    "SAMPLE_RATE",
    "SPEAKER_LABELS",
    "DecodeFailed",
    "DecodeLimits",
    "InvalidTranscript",
    "JobPolicy",
    "ModelUnavailable",
    "NoRecordings",
    "PiiKind",
    "PiiMatch",
    "Redactor",
    "Segment",
    "Transcript",
    "TranscriptionConfig",
    "TranscriptionError",
    "TranscriptionJob",
    "UnsupportedLanguage",
    "WhisperEngine",
    "decode_audio",
    "from_json",
    "iban_is_valid",
    "merge_timeline",
    "resolve_model_path",
    "speaker_label",
    "to_json",
    "to_vtt",
    "transcribe_file",
    "transcript_to_dict",
]
