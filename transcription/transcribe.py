"""Transcribing files and calls: decode (sandboxed), recognise, redact, merge.

``transcribe_file`` is what ``loket transcribe`` runs; ``transcribe_call`` is the job's step for a
call, one recording per participant, merged into one speaker-labelled timeline.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from recordings import Participant
from transcription.config import TranscriptionConfig
from transcription.decode import decode_audio
from transcription.engine import WhisperEngine
from transcription.redaction import Redactor
from transcription.timeline import OffsetKey, TrackKey, merge_timeline
from transcription.transcript import Segment, Transcript


async def transcribe_file(
    path: str | os.PathLike[str],
    config: TranscriptionConfig,
    engine: WhisperEngine,
    *,
    language: str | None = None,
    redact: bool = True,
    redactor: Redactor | None = None,
) -> Transcript:
    """Transcribe one media file; its text is redacted unless ``redact`` is false (an
    organisation's choice). The language is checked against the model before anything is decoded,
    so a wrong language fails at once with ``UnsupportedLanguage``; an undecodable file raises
    ``DecodeFailed``."""
    code = await engine.resolve_language(language)
    audio = await decode_audio(path, config.decode)
    transcript = await engine.transcribe(audio, language=code)
    if not redact:
        return transcript
    redactor = redactor or Redactor(regions=config.phone_regions)
    return dataclasses.replace(
        transcript, segments=redactor.redact_segments(transcript.segments), redacted=True
    )


async def transcribe_call(
    participants: Mapping[TrackKey, str | os.PathLike[str]],
    offsets: Mapping[OffsetKey, float] | None,
    config: TranscriptionConfig,
    engine: WhisperEngine,
    *,
    language: str | None = None,
    redact: bool = True,
) -> Transcript:
    """Transcribe each participant's recording on its own and merge them into one timeline.

    ``participants`` maps "visitor"/"adviser" to their recording; ``offsets`` holds when each
    recording started, in seconds after the call's start (missing: 0). Redaction runs per
    participant, before the merge, so that a number spoken across two of one speaker's segments
    is found. Recordings are transcribed one after another: each already uses
    ``config.cpu_threads``; parallelism comes from running more jobs.
    """
    shifts = {Participant(key): value for key, value in (offsets or {}).items()}
    redactor = Redactor(regions=config.phone_regions)
    tracks: dict[Participant, tuple[Segment, ...]] = {}
    languages: list[str] = []
    model = engine.model_label
    end = 0.0
    for key, path in participants.items():
        participant = Participant(key)
        transcript = await transcribe_file(
            path, config, engine, language=language, redact=redact, redactor=redactor
        )
        tracks[participant] = transcript.segments
        languages.append(transcript.language)
        model = transcript.model
        end = max(end, shifts.get(participant, 0.0) + transcript.duration)
    if not tracks:
        raise ValueError("a call transcript needs at least one recording")
    return Transcript(
        language=language or max(set(languages), key=languages.count),
        model=model,
        duration=end,
        segments=merge_timeline(tracks, shifts),
        redacted=redact,
    )
