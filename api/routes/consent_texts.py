"""``/api/v1/consent-texts``: the organisation's own recording-consent wording, per language and
versioned (``signaling.consent_texts``). Everyone who sets the organisation's privacy settings
reads them; an admin or the dpo publishes a new version. Nothing is edited in place: a stored
answer's version and hash always point at the words the visitor was shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from accounts.models import Role
from api.api import Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor
from api.schemas import ConsentTextOut
from signaling import consent_texts
from signaling.models import OrgConsentText
from signaling.payloads import Payload

routes = Api()

READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO})
WRITERS = frozenset({Role.ADMIN, Role.DPO})


class ConsentTextPublish(Payload):
    # The route says precisely what is wrong with a language or a text (signaling.consent_texts).
    language: Annotated[str, StringConstraints(min_length=1, max_length=8)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=8000)]


class ConsentTextVersionOut(Payload):
    id: str
    language: str
    version: int
    text: str
    sha256: str
    created_by: str
    created_at: datetime


class ConsentTextsOut(Payload):
    # What the widget shows now, per language (the built-in text where none was published).
    current: list[ConsentTextOut]
    # Every published version, by language, newest first.
    versions: list[ConsentTextVersionOut]


def version_out(row: OrgConsentText) -> ConsentTextVersionOut:
    return ConsentTextVersionOut(
        id=f"{consent_texts.ORG_TEXT_PREFIX}{row.version}",
        language=row.language,
        version=row.version,
        text=row.text,
        sha256=row.sha256,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@routes.route(
    "GET",
    "/consent-texts",
    summary="The recording-consent texts shown now, and every published version",
    tag="organisation",
    response=ConsentTextsOut,
    roles=READERS,
)
async def list_consent_texts(request: web.Request) -> ConsentTextsOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        current = await consent_texts.shown(db, claims.org_id)
        rows = await consent_texts.versions(db, claims.org_id)
    return ConsentTextsOut(
        current=[
            ConsentTextOut(id=t.id, language=t.language, text=t.text, version=t.version, sha256=t.sha256)
            for t in current
        ],
        versions=[version_out(row) for row in rows],
    )


@routes.route(
    "POST",
    "/consent-texts",
    summary="Publish a new version of the recording-consent text in one language",
    tag="organisation",
    body=ConsentTextPublish,
    response=ConsentTextVersionOut,
    roles=WRITERS,
    status=201,
)
async def publish_consent_text(request: web.Request) -> ConsentTextVersionOut:
    claims = acting(request)
    data = body(request, ConsentTextPublish)
    async with request.app[SESSIONS]() as db:
        row = await consent_texts.publish(
            db, org_id=claims.org_id, language=data.language, text=data.text, actor=actor(claims)
        )
        await db.commit()
        return version_out(row)
