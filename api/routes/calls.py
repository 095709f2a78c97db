"""The call history: an adviser sees their own calls, supervisors and admins the organisation's."""

from __future__ import annotations

import uuid

from aiohttp import web

from accounts.models import Role
from api.admin_schemas import CallOut, CallsQuery
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting
from signaling import queries
from signaling.models import Call
from signaling.transcripts import transcripts_of_calls

routes = Api()

# The DPO is left out on purpose: they act on privacy requests, which carry the reference.
CALL_READERS = frozenset({Role.ADVISER, Role.SUPERVISOR, Role.ADMIN})


def call_out(call: Call, transcript: tuple[uuid.UUID, str] | None = None) -> CallOut:
    until = call.accepted_at or call.ended_at
    return CallOut(
        id=call.id,
        queue_id=call.queue_id,
        adviser_id=call.adviser_id,
        reference=call.reference,
        language=call.language,
        status=call.status,
        end_reason=call.end_reason,
        created_at=call.created_at,
        accepted_at=call.accepted_at,
        ended_at=call.ended_at,
        waited_seconds=(until - call.created_at).total_seconds() if until is not None else None,
        transcript_id=transcript[0] if transcript else None,
        transcript_status=transcript[1] if transcript else None,
    )


@routes.route(
    "GET",
    "/calls",
    summary="List calls, newest first (?limit=1..200, ?before=ISO timestamp with time zone, "
    "?mine=true for the caller's own calls only)",
    tag="calls",
    response=list[CallOut],
    roles=CALL_READERS,
    query=CallsQuery,
)
async def list_calls(request: web.Request) -> list[CallOut]:
    claims = acting(request)
    params = query(request, CallsQuery)
    only_own = params.mine or claims.role == Role.ADVISER
    async with request.app[SESSIONS]() as db:
        calls = await queries.calls_for_org(
            db,
            claims.org_id,
            adviser_id=claims.user_id if only_own else None,
            before=params.before,
            limit=params.limit,
        )
        transcripts = await transcripts_of_calls(db, [call.id for call in calls])
        return [call_out(call, transcripts.get(call.id)) for call in calls]
