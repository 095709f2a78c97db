"""``/api/v1/organisation``: the caller's organisation, its switch for transcript redaction, and the
data processing agreement its dpo accepts (``/organisation/dpa``, ``privacy.dpa``).

Redaction (``transcription.redaction``) replaces phone numbers, e-mail addresses, IBANs and
licence plates in transcripts before they are stored; it is on unless the organisation turns it
off. Turning it off means storing visitors' personal data in transcripts, so only an admin or the
data protection officer may, every change is audited (who, when, which way), and it applies to
the transcripts made from then on; a stored transcript is never rewritten.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import StrictBool, StringConstraints
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organisation, Role, User
from api.api import Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor
from db import audit
from db.errors import NotFound
from privacy import accept_dpa, current_dpa, dpa_acceptance
from signaling.payloads import Payload

routes = Api()

SETTING_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
SETTING_WRITERS = frozenset({Role.ADMIN, Role.DPO})


class OrganisationOut(Payload):
    id: uuid.UUID
    name: str
    # Personal data is redacted from transcripts before they are stored.
    redact_transcripts: bool
    created_at: datetime


class OrganisationPatch(Payload):
    # Strict: "no" or 0 must not turn redaction off by accident.
    redact_transcripts: StrictBool


def organisation_out(organisation: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=organisation.id,
        name=organisation.name,
        redact_transcripts=organisation.redact_transcripts,
        created_at=organisation.created_at,
    )


@routes.route(
    "GET",
    "/organisation",
    summary="The caller's organisation, with whether transcripts are redacted",
    tag="organisation",
    response=OrganisationOut,
    roles=SETTING_READERS,
)
async def get_organisation(request: web.Request) -> OrganisationOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        organisation = await db.get(Organisation, claims.org_id)
    if organisation is None:
        raise NotFound("no organisation")
    return organisation_out(organisation)


@routes.route(
    "PATCH",
    "/organisation",
    summary="Turn transcript redaction on or off for transcripts made from now on (audited)",
    tag="organisation",
    body=OrganisationPatch,
    response=OrganisationOut,
    roles=SETTING_WRITERS,
)
async def change_organisation(request: web.Request) -> OrganisationOut:
    claims = acting(request)
    data = body(request, OrganisationPatch)
    async with request.app[SESSIONS]() as db:
        organisation = await db.get(Organisation, claims.org_id)
        if organisation is None:
            raise NotFound("no organisation")
        if organisation.redact_transcripts != data.redact_transcripts:
            await db.execute(
                update(Organisation)
                .where(Organisation.id == claims.org_id)
                .values(redact_transcripts=data.redact_transcripts)
                .execution_options(synchronize_session="fetch")
            )
            await audit.record(
                db,
                actor=actor(claims),
                action="organisation.redaction_on"
                if data.redact_transcripts
                else "organisation.redaction_off",
                target=f"organisation:{claims.org_id}",
                org_id=claims.org_id,
                details={"redact_transcripts": data.redact_transcripts},
            )
            await db.commit()
            await db.refresh(organisation)
    return organisation_out(organisation)


# -- the data processing agreement (privacy.dpa) ----------------------------------------------

DPA_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
DPA_ACCEPTERS = frozenset({Role.DPO})


class DpaAcceptanceOut(Payload):
    version: str
    sha256: str
    accepted_by: uuid.UUID | None
    accepted_by_name: str | None
    accepted_at: datetime


class DpaOut(Payload):
    # The current version; null when the installation published none (nothing to accept).
    version: str | None
    sha256: str | None
    text: str | None
    published_at: datetime | None
    # The acceptance of exactly this version, if a dpo gave it.
    accepted: DpaAcceptanceOut | None
    # Recording and transcription are on only once the current version is accepted.
    recording_and_transcription: bool
    # Who may accept: the organisation's data protection officers.
    accepted_by_role: str


class DpaAccept(Payload):
    version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


async def _dpa_out(db: AsyncSession, org_id: uuid.UUID) -> DpaOut:
    current = await current_dpa(db)
    if current is None:
        return DpaOut(
            version=None,
            sha256=None,
            text=None,
            published_at=None,
            accepted=None,
            recording_and_transcription=True,
            accepted_by_role="dpo",
        )
    found = await dpa_acceptance(db, org_id, current)
    accepted = None
    if found is not None:
        user = await db.get(User, found.accepted_by) if found.accepted_by else None
        accepted = DpaAcceptanceOut(
            version=found.version,
            sha256=found.sha256,
            accepted_by=found.accepted_by,
            accepted_by_name=(user.display_name or user.email) if user is not None else None,
            accepted_at=found.accepted_at,
        )
    return DpaOut(
        version=current.version,
        sha256=current.sha256,
        text=current.text,
        published_at=current.published_at,
        accepted=accepted,
        recording_and_transcription=accepted is not None,
        accepted_by_role="dpo",
    )


@routes.route(
    "GET",
    "/organisation/dpa",
    summary="The current data processing agreement and whether this organisation's dpo accepted it",
    tag="organisation",
    response=DpaOut,
    roles=DPA_READERS,
)
async def get_dpa(request: web.Request) -> DpaOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        return await _dpa_out(db, claims.org_id)


@routes.route(
    "POST",
    "/organisation/dpa/acceptance",
    summary="Accept the current data processing agreement (dpo only; give its version and SHA-256; audited)",
    tag="organisation",
    body=DpaAccept,
    response=DpaOut,
    roles=DPA_ACCEPTERS,
    status=201,
)
async def accept_current_dpa(request: web.Request) -> DpaOut:
    claims = acting(request)
    data = body(request, DpaAccept)
    async with request.app[SESSIONS]() as db:
        await accept_dpa(
            db,
            org_id=claims.org_id,
            user_id=claims.user_id,
            version=data.version,
            sha256=data.sha256,
            actor=actor(claims),
        )
        await db.commit()
        return await _dpa_out(db, claims.org_id)
