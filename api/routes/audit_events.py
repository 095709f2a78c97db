"""The organisation's audit trail, for admins and the data protection officer."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from accounts.models import Role
from api.admin_schemas import AuditEventOut, AuditEventsQuery
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting
from db.audit import AuditEvent

routes = Api()

AUDIT_READERS = frozenset({Role.ADMIN, Role.DPO})


def audit_event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        details=event.details,
        hash=event.hash,
        prev_hash=event.prev_hash,
    )


@routes.route(
    "GET",
    "/audit-events",
    summary="List the organisation's audit events, newest first (?limit=1..200, ?before_seq=N)",
    tag="audit-events",
    response=list[AuditEventOut],
    roles=AUDIT_READERS,
    query=AuditEventsQuery,
)
async def list_audit_events(request: web.Request) -> list[AuditEventOut]:
    claims = acting(request)
    params = query(request, AuditEventsQuery)
    statement = select(AuditEvent).where(AuditEvent.org_id == claims.org_id)
    if params.before_seq is not None:
        statement = statement.where(AuditEvent.seq < params.before_seq)
    async with request.app[SESSIONS]() as db:
        events = await db.scalars(statement.order_by(AuditEvent.seq.desc()).limit(params.limit))
        return [audit_event_out(event) for event in events]
