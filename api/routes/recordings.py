"""The organisation's recordings: the list, short-lived playback links, playback, legal hold.

Playback goes through a link (``api.links``) because a ``<video>`` element cannot send
a bearer token. Creating a link and starting playback are both audited: who watched which
recording is exactly what a data protection officer will ask.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from pydantic import Field, StrictBool
from sqlalchemy import select, update

import privacy
import recordings
from accounts.models import Role, User
from api.admin_schemas import KeysetQuery
from api.api import Api, body, query
from api.errors import RangeNotSatisfiable
from api.keys import CONFIG, RECORDINGS_CONFIG, SESSIONS, STORAGE, STORE
from api.links import LINK_SECONDS, LinkSigner
from api.routes._common import acting, actor, path_id, public_base
from db import audit, paging
from db.errors import Conflict, Forbidden, NotFound
from recordings import Recording, RecordingStatus
from signaling.models import Call
from signaling.payloads import Payload
from signaling.reference import normalise_reference
from signaling.store import keys

routes = Api()

RECORDING_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
HOLD_SETTERS = frozenset({Role.ADMIN, Role.DPO})


class RecordingsQuery(KeysetQuery):
    status: RecordingStatus | None = None
    call_id: uuid.UUID | None = None
    reference: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class RecordingOut(Payload):
    id: uuid.UUID
    call_id: uuid.UUID
    reference: str
    participant: str
    status: str
    duration_seconds: float | None
    bytes: int | None
    created_at: datetime
    delete_after: datetime | None
    legal_hold: bool
    # Stored and not shredded: a link can be made for it.
    playable: bool


class RecordingPatch(Payload):
    # Strict: "yes" or 1 must not put a recording on hold by accident.
    legal_hold: StrictBool


class RecordingLink(Payload):
    url: str
    expires_at: datetime


class MediaQuery(Payload):
    token: Annotated[str, Field(min_length=1, max_length=300)]


def _playable(recording: Recording) -> bool:
    return recording.status == RecordingStatus.STORED and recording.wrapped_key is not None


def recording_out(recording: Recording, reference: str) -> RecordingOut:
    return RecordingOut(
        id=recording.id,
        call_id=recording.call_id,
        reference=reference,
        participant=recording.participant,
        status=recording.status,
        duration_seconds=recording.duration_seconds,
        bytes=recording.bytes,
        created_at=recording.created_at,
        delete_after=recording.delete_after,
        legal_hold=recording.legal_hold,
        playable=_playable(recording),
    )


def _signer(request: web.Request) -> LinkSigner:
    return LinkSigner(request.app[CONFIG].secret_key)


async def _own_recording(
    request: web.Request, recording_id: uuid.UUID, org_id: uuid.UUID
) -> tuple[Recording, str]:
    """The recording and its call's reference, if it belongs to ``org_id``; else 404."""
    async with request.app[SESSIONS]() as db:
        row = (
            await db.execute(
                select(Recording, Call.reference)
                .join(Call, Call.id == Recording.call_id)
                .where(Recording.id == recording_id, Call.org_id == org_id)
            )
        ).first()
    if row is None:
        raise NotFound(f"no recording {recording_id}")
    return row[0], row[1]


@routes.route(
    "GET",
    "/recordings",
    summary="List the organisation's recordings, newest first "
    "(?limit=1..200, ?before=ISO timestamp and ?before_id=the last row's id, ?status, ?call_id, "
    "?reference)",
    tag="recordings",
    response=list[RecordingOut],
    roles=RECORDING_READERS,
    query=RecordingsQuery,
)
async def list_recordings(request: web.Request) -> list[RecordingOut]:
    claims = acting(request)
    params = query(request, RecordingsQuery)
    statement = (
        select(Recording, Call.reference)
        .join(Call, Call.id == Recording.call_id)
        .where(Call.org_id == claims.org_id)
    )
    statement = statement.where(
        paging.older_than(Recording.created_at, Recording.id, params.before, params.before_id)
    )
    if params.status is not None:
        statement = statement.where(Recording.status == params.status.value)
    if params.call_id is not None:
        statement = statement.where(Recording.call_id == params.call_id)
    if params.reference is not None:
        # Typed as the visitor read it out: normalised the way the code was issued.
        statement = statement.where(
            Call.reference == (normalise_reference(params.reference) or params.reference.strip())
        )
    statement = statement.order_by(*paging.newest_first(Recording.created_at, Recording.id)).limit(
        params.limit
    )
    async with request.app[SESSIONS]() as db:
        rows = (await db.execute(statement)).all()
    return [recording_out(recording, reference) for recording, reference in rows]


@routes.route(
    "POST",
    "/recordings/{recording_id}/link",
    summary="A short-lived (5 minutes) signed link to play a stored recording (audited)",
    tag="recordings",
    response=RecordingLink,
    roles=RECORDING_READERS,
)
async def create_recording_link(request: web.Request) -> RecordingLink:
    claims = acting(request)
    recording_id = path_id(request, "recording_id")
    recording, _ = await _own_recording(request, recording_id, claims.org_id)
    if not _playable(recording):
        raise Conflict(
            f"recording {recording_id} cannot be played (status {recording.status})", code="not_playable"
        )
    token, expires_at = _signer(request).sign(recording_id, claims.user_id)
    async with request.app[SESSIONS]() as db:
        await audit.record(
            db,
            actor=actor(claims),
            action="recording.link_created",
            target=f"recording:{recording_id}",
            org_id=claims.org_id,
            details={"expires_at": expires_at},
        )
        await db.commit()
    return RecordingLink(
        url=f"{public_base(request)}/api/v1/recordings/{recording_id}/media?token={token}",
        expires_at=datetime.fromtimestamp(expires_at, UTC),
    )


class _PlaybackFile(web.FileResponse):
    """A decrypted copy served once (with HTTP ranges), removed as soon as it has been sent."""

    def __init__(self, path: Path, folder: Path) -> None:
        super().__init__(
            path,
            headers={
                "Content-Type": "video/webm",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
        self._folder = folder

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            return await super().prepare(request)
        finally:
            await privacy.remove_plaintext(self._folder)


async def _first_use(request: web.Request, token: str) -> bool:
    """Whether this is the link's first request: a player that starts past byte 0 is still a
    viewing, and is audited once. Remembered as long as the link lives."""
    return await request.app[STORE].incr(keys.playback(token), ttl=LINK_SECONDS) == 1


def _starts_playback(request: web.Request) -> bool:
    """Whether this request starts a playback (the first bytes), not a seek or a continuation,
    so one viewing is one audit event however many range requests the browser makes.
    A Range header aiohttp cannot read (several ranges, another unit) is refused before any
    decryption (RFC 9110, 15.5.17)."""
    try:
        ranges = request.http_range
    except ValueError as exc:
        raise RangeNotSatisfiable("only one byte range (bytes=start-end) can be asked for") from exc
    return ranges.start in (None, 0)


@routes.route(
    "GET",
    "/recordings/{recording_id}/media",
    summary="Play a recording through a signed link (?token from POST /recordings/{id}/link); "
    "video/webm with HTTP ranges",
    tag="recordings",
    query=MediaQuery,
)
async def play_recording(request: web.Request) -> web.StreamResponse:
    recording_id = path_id(request, "recording_id")
    params = query(request, MediaQuery)
    grant = _signer(request).verify(recording_id, params.token)
    async with request.app[SESSIONS]() as db:
        found = (
            await db.execute(
                select(Recording, Call.org_id)
                .join(Call, Call.id == Recording.call_id)
                .where(Recording.id == recording_id)
            )
        ).first()
        if found is None:
            raise NotFound(f"no recording {recording_id}")
        recording, org_id = found[0], found[1]
        # The link was signed for a user who could read recordings then; they must still can
        # (not deactivated, not demoted, same organisation), as every other request checks.
        viewer = await db.get(User, grant.user_id)
        if (
            viewer is None
            or not viewer.active
            or viewer.org_id != org_id
            or viewer.role not in RECORDING_READERS
        ):
            raise Forbidden(
                "the user this link was made for may no longer play recordings", code="link_revoked"
            )
        if not _playable(recording):
            raise NotFound(f"recording {recording_id} is no longer available", code="not_playable")
        # Both always run: the Range is checked, and the link's first use is counted either way.
        starts_at_zero = _starts_playback(request)
        first_use = await _first_use(request, params.token)
        if starts_at_zero or first_use:
            await audit.record(
                db,
                actor=f"user:{grant.user_id}",
                action="recording.played",
                target=f"recording:{recording_id}",
                org_id=org_id,
                details={},
            )
            await db.commit()
    config = request.app[RECORDINGS_CONFIG]
    folder = await asyncio.to_thread(privacy.plaintext_dir, config, prefix=".playback-")
    try:
        plain = folder / "recording.webm"
        await recordings.fetch_recording(request.app[STORAGE], config, recording, plain)
    except BaseException:
        await privacy.remove_plaintext(folder)
        raise
    return _PlaybackFile(plain, folder)


@routes.route(
    "PATCH",
    "/recordings/{recording_id}",
    summary="Put a recording on legal hold (never deleted by retention) or release it (audited)",
    tag="recordings",
    body=RecordingPatch,
    response=RecordingOut,
    roles=HOLD_SETTERS,
)
async def change_recording(request: web.Request) -> RecordingOut:
    claims = acting(request)
    recording_id = path_id(request, "recording_id")
    data = body(request, RecordingPatch)
    recording, reference = await _own_recording(request, recording_id, claims.org_id)
    if recording.legal_hold != data.legal_hold:
        async with request.app[SESSIONS]() as db:
            await db.execute(
                update(Recording).where(Recording.id == recording_id).values(legal_hold=data.legal_hold)
            )
            await audit.record(
                db,
                actor=actor(claims),
                action="recording.legal_hold_set" if data.legal_hold else "recording.legal_hold_released",
                target=f"recording:{recording_id}",
                org_id=claims.org_id,
                details={"legal_hold": data.legal_hold},
            )
            await db.commit()
        recording, reference = await _own_recording(request, recording_id, claims.org_id)
    return recording_out(recording, reference)
