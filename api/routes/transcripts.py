"""``/api/v1/transcripts/{id}``: a call's transcript, for supervisors, admins and the DPO.

A transcript is personal data of the visitor (redacted or not), so every read is audited:
who read which transcript, in which format.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.models import Role
from api.admin_schemas import TranscriptOut, TranscriptQuery, TranscriptSegmentOut
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting, actor, path_id
from db import audit
from db.errors import Conflict, NotFound
from signaling.transcripts import transcript_in_org

routes = Api()

# Advisers are left out: reading what was said in other people's calls is a review task.
TRANSCRIPT_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
VTT_CONTENT_TYPE = "text/vtt"


def transcript_out(row: Any) -> TranscriptOut:
    segments = None
    if row.segments is not None:
        segments = [
            TranscriptSegmentOut(
                start=item["start"], end=item["end"], speaker=item.get("speaker"), text=item["text"]
            )
            for item in row.segments
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
        return web.Response(text=row.vtt, content_type=VTT_CONTENT_TYPE, charset="utf-8")
    return transcript_out(row)
