"""``/api/v1/organisation``: the caller's organisation and its switch for transcript redaction.

Redaction (``transcription.redaction``) replaces phone numbers, e-mail addresses, IBANs and
licence plates in transcripts before they are stored; it is on unless the organisation turns it
off. Turning it off means storing visitors' personal data in transcripts, so only an admin or the
data protection officer may, every change is audited (who, when, which way), and it applies to
the transcripts made from then on; a stored transcript is never rewritten.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import StrictBool
from sqlalchemy import update

from accounts.models import Organisation, Role
from api.api import Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor
from db import audit
from db.errors import NotFound
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
