"""Transcribing one file: decode (sandboxed), recognise, redact.

``transcribe_file`` is what ``loket transcribe`` runs, and what the job (``transcription.job``)
runs for each participant's recording of a call before merging them into one timeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from transcription.config import TranscriptionConfig
from transcription.decode import decode_audio
from transcription.engine import WhisperEngine
from transcription.redaction import Redactor
from transcription.transcript import Transcript


async def transcribe_file(
    path: str | os.PathLike[str],
    config: TranscriptionConfig,
    engine: WhisperEngine,
    *,
    language: str | None = None,
    languages: Sequence[str] = (),
    redact: bool = True,
    redactor: Redactor | None = None,
    discard: bool = False,
) -> Transcript:
    """Transcribe one media file; its text is redacted unless ``redact`` is false (an
    organisation's choice). Without a ``language`` it is detected, among ``languages`` when
    given (a queue's). The language is checked against its model before anything is decoded,
    so a wrong language fails at once with ``UnsupportedLanguage``; an undecodable file raises
    ``DecodeFailed``. With ``discard`` the file is deleted as soon as it is decoded (a decrypted
    recording: it need not wait on disk while Whisper listens, which takes minutes)."""
    code = await engine.resolve_language(language)
    audio = await decode_audio(path, config.decode)
    if discard:
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)
    transcript = await engine.transcribe(audio, language=code, candidates=languages)
    if not redact:
        return transcript
    redactor = redactor or Redactor(regions=config.phone_regions)
    return dataclasses.replace(
        transcript, segments=redactor.redact_segments(transcript.segments), redacted=True
    )
