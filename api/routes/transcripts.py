"""``/api/v1/transcripts/{id}``: a call's transcript, for supervisors, admins and the DPO, and its
legal hold, for admins and the DPO.

A transcript is personal data of the visitor (redacted or not), so every read is audited:
who read which transcript, in which format. A transcript on legal hold is kept past its
retention deadline and through an erasure request until the hold is released; setting and
releasing it are audited too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import StrictBool
from sqlalchemy import select

from accounts.models import Role
from api.admin_schemas import PageQuery, TranscriptOut, TranscriptQuery, TranscriptSegmentOut
from api.api import Api, body, query
from api.keys import SESSIONS
from api.routes._common import acting, actor, path_id
from db import audit
from db.errors import Conflict, NotFound
from db.tables import TRANSCRIPTS
from signaling.models import Call
from signaling.payloads import Payload
from signaling.transcripts import TranscriptText, transcript_in_org, transcript_text
from transcription import set_legal_hold

routes = Api()

# Advisers are left out: reading what was said in other people's calls is a review task.
TRANSCRIPT_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
# As for recordings: keeping data past its retention is the organisation's legal decision.
HOLD_SETTERS = frozenset({Role.ADMIN, Role.DPO})
VTT_CONTENT_TYPE = "text/vtt"


def transcript_out(row: Any, text: TranscriptText) -> TranscriptOut:
    segments = None
    if text.segments is not None:
        segments = [
            TranscriptSegmentOut(
                start=item["start"], end=item["end"], speaker=item.get("speaker"), text=item["text"]
            )
            for item in text.segments
        ]
    return TranscriptOut(
        id=row.id,
        call_id=row.call_id,
        status=row.status,
        language=row.language,
        model=row.model,
        redacted=row.redacted,
        error=row.error,
        segments=segments,
        legal_hold=row.legal_hold,
        created_at=row.created_at,
        completed_at=row.completed_at,
        delete_after=row.delete_after,
    )


class TranscriptListed(Payload):
    """What the list shows of a transcript: how it was made and kept, never what was said."""

    id: uuid.UUID
    call_id: uuid.UUID
    reference: str
    status: str
    language: str | None
    model: str | None
    redacted: bool
    legal_hold: bool
    created_at: datetime
    completed_at: datetime | None
    delete_after: datetime | None


@routes.route(
    "GET",
    "/transcripts",
    summary="List the organisation's transcripts, newest first, without their text "
    "(?limit=1..200, ?before=ISO timestamp; not audited: nothing said is shown)",
    tag="transcripts",
    response=list[TranscriptListed],
    roles=TRANSCRIPT_READERS,
    query=PageQuery,
)
async def list_transcripts(request: web.Request) -> list[TranscriptListed]:
    claims = acting(request)
    params = query(request, PageQuery)
    statement = (
        select(TRANSCRIPTS, Call.reference)
        .join(Call, Call.id == TRANSCRIPTS.c.call_id)
        .where(Call.org_id == claims.org_id)
    )
    if params.before is not None:
        statement = statement.where(TRANSCRIPTS.c.created_at < params.before)
    statement = statement.order_by(TRANSCRIPTS.c.created_at.desc(), TRANSCRIPTS.c.id).limit(params.limit)
    async with request.app[SESSIONS]() as db:
        rows = (await db.execute(statement)).all()
    return [
        TranscriptListed(
            id=row.id,
            call_id=row.call_id,
            reference=row.reference,
            status=row.status,
            language=row.language,
            model=row.model,
            redacted=row.redacted,
            legal_hold=row.legal_hold,
            created_at=row.created_at,
            completed_at=row.completed_at,
            delete_after=row.delete_after,
        )
        for row in rows
    ]


@routes.route(
    "GET",
    "/transcripts/{transcript_id}",
    summary="A call's transcript: JSON segments, or WebVTT with ?format=vtt (each read is audited)",
    tag="transcripts",
    response=TranscriptOut,
    roles=TRANSCRIPT_READERS,
    query=TranscriptQuery,
)
async def get_transcript(request: web.Request) -> TranscriptOut | web.Response:
    claims = acting(request)
    params = query(request, TranscriptQuery)
    transcript_id = path_id(request, "transcript_id")
    async with request.app[SESSIONS]() as db:
        row = await transcript_in_org(db, transcript_id, claims.org_id)
        if row is None:
            raise NotFound(f"no transcript {transcript_id}")
        if params.format == "vtt" and row.vtt is None:
            raise Conflict(f"transcript {transcript_id} is {row.status}: it has no WebVTT", code="not_ready")
        # Sealed with the call's data key (privacy.call_keys): opened for this read only.
        text = await transcript_text(db, row)
        await audit.record(
            db,
            org_id=claims.org_id,
            actor=actor(claims),
            action="transcript.read",
            target=f"transcript:{transcript_id}",
            details={"call_id": str(row.call_id), "format": params.format},
        )
        await db.commit()
    if params.format == "vtt":
        return web.Response(text=text.vtt, content_type=VTT_CONTENT_TYPE, charset="utf-8")
    return transcript_out(row, text)


class TranscriptPatch(Payload):
    # Strict: "yes" or 1 must not put a transcript on hold by accident.
    legal_hold: StrictBool


@routes.route(
    "PATCH",
    "/transcripts/{transcript_id}",
    summary="Put a transcript on legal hold (kept past retention and erasure) or release it (audited)",
    tag="transcripts",
    body=TranscriptPatch,
    response=TranscriptOut,
    roles=HOLD_SETTERS,
)
async def change_transcript(request: web.Request) -> TranscriptOut:
    claims = acting(request)
    transcript_id = path_id(request, "transcript_id")
    data = body(request, TranscriptPatch)
    async with request.app[SESSIONS]() as db:
        row = await transcript_in_org(db, transcript_id, claims.org_id)
        if row is None:
            raise NotFound(f"no transcript {transcript_id}")
        if await set_legal_hold(db, transcript_id, data.legal_hold):
            await audit.record(
                db,
                org_id=claims.org_id,
                actor=actor(claims),
                action="transcript.legal_hold_set" if data.legal_hold else "transcript.legal_hold_released",
                target=f"transcript:{transcript_id}",
                details={"call_id": str(row.call_id), "legal_hold": data.legal_hold},
            )
            await db.commit()
            row = await transcript_in_org(db, transcript_id, claims.org_id)
        assert row is not None
        text = await transcript_text(db, row)
    return transcript_out(row, text)
