"""One call's recordings heard as one speaker-labelled transcript.

Each participant's recording is fetched and decrypted into a private scratch folder
(``transcription.scratch``), decoded in the sandboxed subprocess and recognised with the Whisper
engine (``transcribe_file``), redacted when the organisation wants that, shifted to call time
and merged into one "Visitor"/"Adviser" timeline. The decrypted file is deleted as soon as it is
heard, and the folder when the call is done, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path

from recordings import Participant, RecordingsConfig, Storage, fetch_recording
from transcription import queries
from transcription.config import TranscriptionConfig
from transcription.engine import WhisperEngine
from transcription.redaction import Redactor
from transcription.scratch import make_scratch, remove_scratch
from transcription.timeline import merge_timeline
from transcription.transcribe import transcribe_file
from transcription.transcript import Segment, Transcript


async def transcribe_call(
    media: queries.CallMedia,
    language: str | None,
    *,
    storage: Storage,
    recordings: RecordingsConfig,
    config: TranscriptionConfig,
    engine: WhisperEngine,
    scratch_dir: Path | None,
) -> Transcript:
    """Each recording on its own, shifted to call time, merged into one timeline.

    Without a call language, the first recording with speech settles it, detected among
    the queue's languages: the visitor's first, since the visitor's language is the call's
    (an adviser may greet in another); the other recordings are then heard in it."""
    scratch, lock = await asyncio.to_thread(make_scratch, scratch_dir)
    tracks: dict[Participant, list[Segment]] = {}
    heard_as: list[tuple[str, str]] = []
    end = 0.0
    redactor = Redactor(regions=config.phone_regions)
    visitor_first = sorted(media.recordings, key=lambda r: r.participant != Participant.VISITOR.value)
    try:
        for recording in visitor_first if language is None else media.recordings:
            # Decrypted visitor media: only in the private scratch folder, only while needed.
            path = scratch / f"{recording.id}.media"
            await fetch_recording(storage, recordings, recording, path)
            try:
                heard = await transcribe_file(
                    path,
                    config,
                    engine,
                    language=language,
                    languages=media.languages,
                    redact=media.redact,
                    redactor=redactor,
                    discard=True,
                )
            finally:
                await asyncio.to_thread(path.unlink, missing_ok=True)
            if language is None and heard.segments:
                language = heard.language
            # A recording starts when consent allowed it: its offset from the call's start.
            offset = max(0.0, (recording.created_at - media.started_at).total_seconds())
            tracks.setdefault(Participant(recording.participant), []).extend(
                dataclasses.replace(segment, start=segment.start + offset, end=segment.end + offset)
                for segment in heard.segments
            )
            heard_as.append((heard.language, heard.model))
            end = max(end, offset + heard.duration)
    finally:
        await asyncio.to_thread(remove_scratch, scratch, lock)
    settled, model = Counter(heard_as).most_common(1)[0][0]
    return Transcript(
        language=settled,
        model=model,
        duration=end,
        segments=merge_timeline(tracks),
        redacted=media.redact,
    )
