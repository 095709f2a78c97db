"""Storing a finished transcript: exactly once, only while this worker still holds its row.

The transcript (sealed with the call's data key, as its chat is, so that shredding the key
makes every copy unreadable), its audit event and the ``transcript.ready`` hook's webhook are
written in one transaction; a worker whose lease was taken meanwhile drops its result.
"""

from __future__ import annotations

import logging
from datetime import datetime

from db import SessionFactory, audit, update_if_held
from privacy import call_data_key, seal_transcript
from recordings import EventHook
from transcription import queries
from transcription.claims import ACTOR, Claimed
from transcription.formats import to_vtt, transcript_to_dict
from transcription.models import Transcript as TranscriptRow
from transcription.models import TranscriptStatus
from transcription.transcript import Transcript

logger = logging.getLogger(__name__)

TRANSCRIPT_READY = "transcript.ready"


async def store_transcript(
    sessions: SessionFactory,
    worker_id: str,
    job: Claimed,
    media: queries.CallMedia,
    result: Transcript,
    now: datetime,
    *,
    on_ready: EventHook | None,
) -> bool:
    """Write the transcript, its audit event and the hook's webhook in one transaction,
    only while this worker still holds the row; True when it did."""
    async with sessions() as session:
        data_key = await call_data_key(session, job.call_id, create=True)
        segments, vtt = seal_transcript(
            data_key, job.call_id, job.id, transcript_to_dict(result)["segments"], to_vtt(result)
        )
        held = await update_if_held(
            session,
            TranscriptRow,
            job.id,
            worker_id,
            status=TranscriptStatus.DONE.value,
            language=result.language,
            model=result.model,
            segments=segments,
            vtt=vtt,
            redacted=result.redacted,
            error=None,
            next_attempt_at=None,
            completed_at=now,
            claimed_by=None,
            lease_until=None,
        )
        if not held:
            await session.rollback()
            logger.warning("transcript %s was taken from this worker; its result is dropped", job.id)
            return False
        await audit.record(
            session,
            org_id=media.org_id,
            actor=ACTOR,
            action="transcript.created",
            target=f"transcript:{job.id}",
            details={
                "call_id": str(job.call_id),
                "recordings": len(media.recordings),
                "segments": len(result.segments),
                "language": result.language,
                "model": result.model,
                "redacted": result.redacted,
                "duration": round(result.duration, 3),
            },
        )
        if on_ready is not None:
            payload = {
                "transcript_id": str(job.id),
                "call_id": str(job.call_id),
                "completed_at": now.isoformat(),
            }
            await on_ready(session, media.org_id, TRANSCRIPT_READY, payload)
        await session.commit()
    logger.info("transcript %s of call %s done (%d segments)", job.id, job.call_id, len(result.segments))
    return True
