"""The call history: an adviser sees their own calls, supervisors and admins the organisation's.

The list filters by queue, adviser, outcome, end reason and period, and pages over
``(created_at, id)`` newest first (``db.paging``). ``?format=csv`` exports every call the same
filters select, as CSV, to supervisors and admins: the columns the JSON list shows and nothing
more about the visitor (calls hold no visitor PII). The export is streamed page by page, so a
year of calls never sits in memory, and audited as ``calls.exported`` with its filters.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role
from accounts.tokens import StaffClaims
from api.admin_schemas import CallOut, KeysetQuery
from api.api import Api, query
from api.keys import SESSIONS
from api.routes._common import acting, actor
from db import audit
from db.errors import Forbidden
from signaling import queries
from signaling.models import Call, CallStatus
from signaling.transcripts import transcripts_of_calls

routes = Api()

# The DPO is left out on purpose: they act on privacy requests, which carry the reference.
CALL_READERS = frozenset({Role.ADVISER, Role.SUPERVISOR, Role.ADMIN})
CALL_EXPORTERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Rows per database round trip of a CSV export.
EXPORT_PAGE = 500
CSV_COLUMNS = (
    "id",
    "reference",
    "queue_id",
    "adviser_id",
    "language",
    "status",
    "end_reason",
    "created_at",
    "accepted_at",
    "ended_at",
    "waited_seconds",
)

# What a CSV export's audit event leaves out of the query: paging and the format.
NOT_FILTERS = {"format", "limit", "before", "before_id"}

Moment = AwareDatetime | date


class CallsListQuery(KeysetQuery):
    """A bare date in ``from``/``to`` is a calendar day in the organisation's time zone
    (the statistics' days); ``to`` includes that whole day. A timestamp is taken as it is."""

    # Only the caller's own calls (the console's history), whatever their role.
    mine: bool = False
    queue_id: uuid.UUID | None = None
    adviser_id: uuid.UUID | None = None
    # ended: answered and finished; abandoned: the visitor left before anyone answered.
    outcome: CallStatus | None = None
    end_reason: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] | None = None
    since: Moment | None = Field(default=None, alias="from")
    until: Moment | None = Field(default=None, alias="to")
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _period_runs_forward(self) -> Self:
        if self.since is not None and self.until is not None:
            start, end = _comparable(self.since), _comparable(self.until)
            if end < start:
                raise ValueError("'to' is before 'from'")
        return self


def _comparable(moment: Moment) -> datetime:
    # Only for the order check: a bare date as UTC midnight is close enough for that.
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, time(), tzinfo=UTC)


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


async def _call_filter(db: AsyncSession, claims: StaffClaims, params: CallsListQuery) -> queries.CallFilter:
    only_own = params.mine or claims.role == Role.ADVISER
    adviser_id = params.adviser_id
    if only_own:
        if adviser_id is not None and adviser_id != claims.user_id:
            raise Forbidden("advisers see their own calls only")
        adviser_id = claims.user_id
    days = _is_day(params.since) or _is_day(params.until)
    zone = ZoneInfo(await queries.organisation_timezone(db, claims.org_id)) if days else None
    return queries.CallFilter(
        adviser_id=adviser_id,
        queue_id=params.queue_id,
        status=params.outcome.value if params.outcome is not None else None,
        end_reason=params.end_reason,
        since=_instant(params.since, zone, day_end=False),
        until=_instant(params.until, zone, day_end=True),
    )


def _is_day(moment: Moment | None) -> bool:
    return isinstance(moment, date) and not isinstance(moment, datetime)


def _instant(moment: Moment | None, zone: ZoneInfo | None, *, day_end: bool) -> datetime | None:
    """A timestamp as it is; a bare date as the midnight in ``zone`` that starts it, or with
    ``day_end`` the midnight that ends it (so ``to`` includes its whole day)."""
    if moment is None or isinstance(moment, datetime):
        return moment
    assert zone is not None
    day = moment + timedelta(days=1) if day_end else moment
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


@routes.route(
    "GET",
    "/calls",
    summary="List calls, newest first (?limit=1..200, ?before=ISO timestamp and ?before_id=the "
    "last row's id; filters ?queue_id, ?adviser_id, ?outcome=waiting|ringing|active|ended|abandoned, "
    "?end_reason, ?from and ?to (ISO timestamps, or dates in the organisation's time zone, 'to' "
    "inclusive); ?mine=true for the caller's own calls only; ?format=csv exports every matching "
    "call as CSV, for supervisors and admins, audited)",
    tag="calls",
    response=list[CallOut],
    roles=CALL_READERS,
    query=CallsListQuery,
)
async def list_calls(request: web.Request) -> list[CallOut] | web.StreamResponse:
    claims = acting(request)
    params = query(request, CallsListQuery)
    if params.format == "csv":
        return await _export_csv(request, claims, params)
    async with request.app[SESSIONS]() as db:
        which = await _call_filter(db, claims, params)
        calls = await queries.calls_page(
            db, claims.org_id, which, before=params.before, before_id=params.before_id, limit=params.limit
        )
        transcripts = await transcripts_of_calls(db, [call.id for call in calls])
        return [call_out(call, transcripts.get(call.id)) for call in calls]


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _csv_lines(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def _export_csv(
    request: web.Request, claims: StaffClaims, params: CallsListQuery
) -> web.StreamResponse:
    if claims.role not in CALL_EXPORTERS:
        raise Forbidden("only supervisors and admins export calls")
    async with request.app[SESSIONS]() as db:
        which = await _call_filter(db, claims, params)
        # Audited before the first byte: an export cut short was still an export.
        await audit.record(
            db,
            org_id=claims.org_id,
            actor=actor(claims),
            action="calls.exported",
            target=f"organisation:{claims.org_id}",
            details={
                "format": "csv",
                "filters": params.model_dump(
                    mode="json", by_alias=True, exclude=NOT_FILTERS, exclude_defaults=True
                ),
            },
        )
        await db.commit()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="calls-{stamp}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(_csv_lines([list(CSV_COLUMNS)]))
    before, before_id = params.before, params.before_id
    while True:
        async with request.app[SESSIONS]() as db:
            calls = await queries.calls_page(
                db, claims.org_id, which, before=before, before_id=before_id, limit=EXPORT_PAGE
            )
        if not calls:
            break
        lines = []
        for call in calls:
            shown = call_out(call).model_dump()
            lines.append([_csv_cell(shown[column]) for column in CSV_COLUMNS])
        await response.write(_csv_lines(lines))
        if len(calls) < EXPORT_PAGE:
            break
        before, before_id = calls[-1].created_at, calls[-1].id
    await response.write_eof()
    return response
