"""Transcription: the Whisper engine (faster-whisper) with a model per language, the bundled
models (assembled on first use, never downloaded), sandboxed decoding of untrusted media, the
guards against hallucination, transcript formats (JSON, WebVTT), PII redaction in the visitors'
languages, and the speaker-labelled timeline of a call.

faster-whisper is imported only when a model is first loaded.
"""

from transcription.bundled import WHISPER_BASE, BundledModel, assemble, default_model_dir
from transcription.claims import JobPolicy
from transcription.config import DEFAULT_MODEL, DEFAULT_PHONE_REGIONS, DecodeLimits, TranscriptionConfig
from transcription.decode import SAMPLE_RATE, decode_audio
from transcription.engine import WhisperEngine, normalise_language, resolve_model_path
from transcription.errors import (
    DecodeFailed,
    InvalidTranscript,
    ModelCorrupt,
    ModelUnavailable,
    NoRecordings,
    TimedOut,
    TranscriptionError,
    UnsupportedLanguage,
)
from transcription.formats import from_json, to_json, to_vtt, transcript_to_dict
from transcription.job import TranscriptionJob
from transcription.queries import set_legal_hold
from transcription.redaction import PiiKind, PiiMatch, Redactor, iban_is_valid
from transcription.timeline import SPEAKER_LABELS, merge_timeline, speaker_label
from transcription.transcribe import transcribe_file
from transcription.transcript import Segment, Transcript

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PHONE_REGIONS",
    "SAMPLE_RATE",
    "SPEAKER_LABELS",
    "WHISPER_BASE",
    "BundledModel",
    "DecodeFailed",
    "DecodeLimits",
    "InvalidTranscript",
    "JobPolicy",
    "ModelCorrupt",
    "ModelUnavailable",
    "NoRecordings",
    "PiiKind",
    "PiiMatch",
    "Redactor",
    "Segment",
    "TimedOut",
    "Transcript",
    "TranscriptionConfig",
    "TranscriptionError",
    "TranscriptionJob",
    "UnsupportedLanguage",
    "WhisperEngine",
    "assemble",
    "decode_audio",
    "default_model_dir",
    "from_json",
    "iban_is_valid",
    "merge_timeline",
    "normalise_language",
    "resolve_model_path",
    "set_legal_hold",
    "speaker_label",
    "to_json",
    "to_vtt",
    "transcribe_file",
    "transcript_to_dict",
]
