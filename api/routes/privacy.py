"""Privacy requests: a visitor asks, with the privacy key given to them (only) at the end of
their call, for its erasure or an export, and follows the request with its id and one-time
secret; staff (admin, dpo) ask for erasure or an export of a call of their organisation on the
staff routes, as themselves in the audit trail, and follow their organisation's requests.

The reference code is shown to staff, so it is no credential: ``POST /privacy/requests`` takes
only the privacy key. The anonymous endpoints answer the same whatever the key: a key that
matches no call gets the same 202, and only the holder of the request's secret later reads
``not_found``. An
unknown request id and a wrong secret are the same 404. The privacy page is served by Loket
itself, so these are same-origin requests and need no CORS headers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from aiohttp import web
from pydantic import StringConstraints

from accounts import ratelimit
from accounts.models import Role
from api.admin_schemas import KeysetQuery
from api.api import Api, body, query
from api.errors import ExportExpired
from api.keys import CONFIG, RECORDINGS_CONFIG, SESSIONS, STORAGE, STORE
from api.middlewares import client_ip
from api.routes._common import acting, actor, own_row, path_id
from db import audit, utcnow
from db.errors import Conflict, InvalidInput, NotFound
from privacy import (
    CreatedRequest,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    call_of,
    create_request,
    fetch_export,
    find_request,
    normalise_privacy_key,
    org_of,
    org_requests,
    plaintext_dir,
    remove_plaintext,
)
from recordings import KeyUnavailable, ObjectNotFound
from signaling.models import Call
from signaling.payloads import Payload
from signaling.store import keys

routes = Api()

# The header that carries a request's one-time secret (never the URL: URLs end up in logs).
SECRET_HEADER = "X-Loket-Request-Secret"  # noqa: S105 - a header name, not a secret
PRIVACY_STAFF = frozenset({Role.ADMIN, Role.DPO})
_STREAM_CHUNK = 256 * 1024


# -- wire payloads ---------------------------------------------------------------------------


class PrivacyRequestIn(Payload):
    # The visitor's privacy key (``PK-…``); the call's reference code is not accepted.
    privacy_key: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    kind: Literal["erase", "export"]


class PrivacyRequestCreated(Payload):
    request_id: uuid.UUID
    # Shown once: with the id it is the only way to follow the request and fetch the export.
    secret: str
    kind: str
    status: str


class ExportOut(Payload):
    expires_at: datetime
    bytes: int


class PrivacyRequestOut(Payload):
    request_id: uuid.UUID
    kind: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    export: ExportOut | None


class ErasureCreated(Payload):
    request_id: uuid.UUID
    status: str


class ExportCreated(Payload):
    request_id: uuid.UUID
    status: str


class StaffPrivacyRequestOut(Payload):
    request_id: uuid.UUID
    kind: str
    status: str
    call_id: uuid.UUID | None
    requested_by: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
    error: str | None
    counts: dict[str, int]
    export: ExportOut | None


def _export_of(request: PrivacyRequest) -> ExportOut | None:
    if request.export_expires_at is None or request.export_bytes is None:
        return None
    if request.export_storage_key is None or request.export_expires_at <= utcnow():
        return None
    return ExportOut(expires_at=request.export_expires_at, bytes=request.export_bytes)


# -- the visitor -----------------------------------------------------------------------------


@routes.route(
    "POST",
    "/privacy/requests",
    summary="Ask for erasure or export of a call's data with the visitor's privacy key (anonymous)",
    tag="privacy",
    body=PrivacyRequestIn,
    response=PrivacyRequestCreated,
    status=202,
)
async def create_privacy_request(request: web.Request) -> PrivacyRequestCreated:
    config = request.app[CONFIG]
    await ratelimit.hit(
        request.app[STORE], keys.privacy_requests_rate(client_ip(request)), config.privacy_requests_per_ip
    )
    data = body(request, PrivacyRequestIn)
    privacy_key = normalise_privacy_key(data.privacy_key)
    if privacy_key is None:
        # Says nothing about which keys exist: this one cannot be a key at all.
        raise InvalidInput(
            "privacy_key: the key shown at the end of the call, like PK-ABCD-EFGH-…",
            code="invalid_privacy_key",
        )
    async with request.app[SESSIONS]() as db:
        created = await create_request(db, kind=PrivacyRequestKind(data.kind), privacy_key=privacy_key)
        await db.commit()
    return PrivacyRequestCreated(
        request_id=created.id, secret=created.secret, kind=created.kind.value, status=created.status.value
    )


async def _own_request(request: web.Request) -> PrivacyRequest:
    """The request named in the path, if the secret header is its secret; else the same 404."""
    await ratelimit.hit(
        request.app[STORE],
        keys.privacy_reads_rate(client_ip(request)),
        request.app[CONFIG].privacy_reads_per_ip,
    )
    unknown = NotFound("no such request, or not your secret", code="privacy_request_not_found")
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise unknown from exc
    async with request.app[SESSIONS]() as db:
        found = await find_request(db, request_id, request.headers.get(SECRET_HEADER))
    if found is None:
        raise unknown
    return found


@routes.route(
    "GET",
    "/privacy/requests/{request_id}",
    summary=f"A privacy request's status (header {SECRET_HEADER}: the request's secret)",
    tag="privacy",
    response=PrivacyRequestOut,
)
async def get_privacy_request(request: web.Request) -> PrivacyRequestOut:
    found = await _own_request(request)
    return PrivacyRequestOut(
        request_id=found.id,
        kind=found.kind,
        status=found.status,
        created_at=found.created_at,
        completed_at=found.completed_at,
        export=_export_of(found),
    )


@routes.route(
    "GET",
    "/privacy/requests/{request_id}/export",
    summary=f"Download an export's archive (ZIP) for 24 hours (header {SECRET_HEADER})",
    tag="privacy",
)
async def download_export(request: web.Request) -> web.StreamResponse:
    found = await _own_request(request)
    return await _stream_export(request, found, actor="visitor")


async def _stream_export(request: web.Request, found: PrivacyRequest, *, actor: str) -> web.StreamResponse:
    """Send the request's archive, with an audit event naming ``actor`` (the visitor or staff)."""
    if found.kind != PrivacyRequestKind.EXPORT:
        raise NotFound("an erasure request has no export", code="no_export")
    if found.status != PrivacyRequestStatus.DONE:
        # Not found (the key matched no call), failed, or still being made: the status says which.
        raise Conflict(
            f"there is no export to download: the request is {found.status}", code="export_not_ready"
        )
    if found.export_expires_at is None or found.export_expires_at <= utcnow() or not found.export_storage_key:
        raise ExportExpired("this export has expired and was deleted")
    storage, recordings = request.app[STORAGE], request.app[RECORDINGS_CONFIG]
    folder = await asyncio.to_thread(plaintext_dir, recordings)
    try:
        archive = folder / "export.zip"
        try:
            size = await fetch_export(storage, recordings, found, archive)
        except (KeyUnavailable, ObjectNotFound) as exc:
            # Shredded or deleted by the expiry job between the checks above and now.
            raise ExportExpired("this export has expired and was deleted") from exc
        async with request.app[SESSIONS]() as db:
            await audit.record(
                db,
                org_id=org_of(found),
                actor=actor,
                action="privacy_export.downloaded",
                target=f"privacy_request:{found.id}",
                details={"bytes": size},
            )
            await db.commit()
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="loket-export-{found.id}.zip"',
                "Cache-Control": "no-store",
            }
        )
        response.content_length = size
        await response.prepare(request)
        await _send(response, archive)
        await response.write_eof()
        return response
    finally:
        await remove_plaintext(folder)


async def _send(response: web.StreamResponse, path: Path) -> None:
    reader = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(reader.read, _STREAM_CHUNK):
            await response.write(chunk)
    finally:
        # On the loop, not in a thread: a client that goes away cancels this task, and a
        # cancelled to_thread may never run (closing a read-only file does not block).
        reader.close()


# -- staff -----------------------------------------------------------------------------------


@routes.route(
    "POST",
    "/calls/{call_id}/erasure",
    summary="Ask for erasure of everything of a call (processed by the worker, like a visitor's)",
    tag="privacy",
    response=ErasureCreated,
    roles=PRIVACY_STAFF,
    status=202,
)
async def request_erasure(request: web.Request) -> ErasureCreated:
    created = await _staff_request(request, PrivacyRequestKind.ERASE, "call.erasure_requested")
    return ErasureCreated(request_id=created.id, status=created.status.value)


async def _staff_request(request: web.Request, kind: PrivacyRequestKind, action: str) -> CreatedRequest:
    """A privacy request for the path's call (of the staff member's organisation), made by the
    staff member and audited under their name; the worker processes it like a visitor's."""
    claims = acting(request)
    call_id = path_id(request, "call_id")
    async with request.app[SESSIONS]() as db:
        await own_row(db, Call, call_id, claims, "call")
        created = await create_request(db, kind=kind, call_id=call_id, requested_by=claims.user_id)
        await audit.record(
            db,
            org_id=claims.org_id,
            actor=actor(claims),
            action=action,
            target=f"call:{call_id}",
            details={"request_id": str(created.id)},
        )
        await db.commit()
    return created


@routes.route(
    "POST",
    "/calls/{call_id}/export",
    summary="Ask for an export of a call (made by the worker; then GET /calls/{call_id}/export/{request_id})",
    tag="privacy",
    response=ExportCreated,
    roles=PRIVACY_STAFF,
    status=202,
)
async def request_export(request: web.Request) -> ExportCreated:
    created = await _staff_request(request, PrivacyRequestKind.EXPORT, "call.export_requested")
    return ExportCreated(request_id=created.id, status=created.status.value)


@routes.route(
    "GET",
    "/calls/{call_id}/export/{request_id}",
    summary="Download an export a staff member asked for (ZIP, for 24 hours; audited)",
    tag="privacy",
    roles=PRIVACY_STAFF,
)
async def download_staff_export(request: web.Request) -> web.StreamResponse:
    claims = acting(request)
    call_id, request_id = path_id(request, "call_id"), path_id(request, "request_id")
    async with request.app[SESSIONS]() as db:
        found = await db.get(PrivacyRequest, request_id)
    # Only a staff request of this organisation for this call; anything else is the same 404.
    if (
        found is None
        or found.requested_by is None
        or org_of(found) != claims.org_id
        or call_of(found) != call_id
    ):
        raise NotFound("no such export", code="privacy_request_not_found")
    return await _stream_export(request, found, actor=actor(claims))


@routes.route(
    "GET",
    "/privacy/requests",
    summary="The organisation's privacy requests, newest first "
    "(?limit=1..200, ?before=ISO timestamp and ?before_id=the last row's id)",
    tag="privacy",
    response=list[StaffPrivacyRequestOut],
    roles=PRIVACY_STAFF,
    query=KeysetQuery,
)
async def list_privacy_requests(request: web.Request) -> list[StaffPrivacyRequestOut]:
    claims = acting(request)
    params = query(request, KeysetQuery)
    async with request.app[SESSIONS]() as db:
        found = await org_requests(
            db, claims.org_id, limit=params.limit, before=params.before, before_id=params.before_id
        )
    return [
        StaffPrivacyRequestOut(
            request_id=row.id,
            kind=row.kind,
            status=row.status,
            call_id=call_of(row),
            requested_by=row.requested_by,
            created_at=row.created_at,
            completed_at=row.completed_at,
            error=row.error,
            counts=dict((row.result or {}).get("counts", {})),
            export=_export_of(row),
        )
        for row in found
    ]
