"""An organisation's own recording-consent wording, per language and versioned.

Publishing a wording in a language stores it as that language's next version (1, 2, ...);
rows are never changed or deleted while the organisation exists, so the text behind every
stored answer can always be shown again. The widget is given, per language, the newest
version, or the built-in text (``signaling.consent``) in a language the organisation has not
written. A visitor's answer names the text id it was shown (``recording-org-v{version}``, or
``recording-v1`` for the built-in one) and its language; any published version is accepted,
so a visitor who loaded the widget before an edit answers the text they actually read. The
answer stores that version and the SHA-256 of its exact text; a widget that also sends the
hash it computed over the text it displayed is refused when the two differ.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import audit
from signaling.consent import RECORDING_V1, ConsentText, consent_text, texts_for
from signaling.errors import InvalidInput
from signaling.models import OrgConsentText

KIND = "recording"
ORG_TEXT_PREFIX = "recording-org-v"
MAX_TEXT_LENGTH = 4000
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_ORG_TEXT_ID = re.compile(r"^recording-org-v([1-9][0-9]{0,8})$")


def _as_text(row: OrgConsentText) -> ConsentText:
    return ConsentText(f"{ORG_TEXT_PREFIX}{row.version}", row.language, row.text, row.version)


async def publish(
    db: AsyncSession, *, org_id: uuid.UUID, language: str, text: str, actor: str
) -> OrgConsentText:
    """Store ``text`` as the next version in ``language`` (the caller commits)."""
    language = language.strip().lower()
    if not _LANGUAGE.match(language):
        raise InvalidInput("language is a two-letter code such as nl", code="invalid_language")
    text = text.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"a consent text has 1 to {MAX_TEXT_LENGTH} characters", code="invalid_text")
    latest = await db.scalar(
        select(func.max(OrgConsentText.version)).where(
            OrgConsentText.org_id == org_id, OrgConsentText.kind == KIND, OrgConsentText.language == language
        )
    )
    row = OrgConsentText(
        org_id=org_id,
        kind=KIND,
        language=language,
        version=(latest or 0) + 1,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        created_by=actor,
    )
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        actor=actor,
        action="consent_text.publish",
        target=f"consent_text:{language}:v{row.version}",
        org_id=org_id,
        details={"language": language, "version": row.version, "sha256": row.sha256},
    )
    return row


async def versions(db: AsyncSession, org_id: uuid.UUID) -> list[OrgConsentText]:
    """Every published version, by language, newest first."""
    rows = await db.scalars(
        select(OrgConsentText)
        .where(OrgConsentText.org_id == org_id, OrgConsentText.kind == KIND)
        .order_by(OrgConsentText.language, OrgConsentText.version.desc())
    )
    return list(rows)


async def shown(db: AsyncSession, org_id: uuid.UUID) -> list[ConsentText]:
    """What the widget shows: per language the newest version, else the built-in text."""
    newest: dict[str, ConsentText] = {}
    for row in await versions(db, org_id):
        newest.setdefault(row.language, _as_text(row))
    builtin = {text.language: text for text in texts_for(RECORDING_V1)}
    return [newest.get(language) or builtin[language] for language in sorted({*builtin, *newest})]


async def answered(db: AsyncSession, org_id: uuid.UUID, text_id: str, language: str) -> ConsentText:
    """The exact text a visitor answered, by the id and language the widget sent."""
    match = _ORG_TEXT_ID.match(text_id)
    if match is None:
        return consent_text(text_id, language)
    row = await db.scalar(
        select(OrgConsentText).where(
            OrgConsentText.org_id == org_id,
            OrgConsentText.kind == KIND,
            OrgConsentText.language == language,
            OrgConsentText.version == int(match.group(1)),
        )
    )
    if row is None:
        raise InvalidInput(f"consent text {text_id} has no {language!r} version", code="unknown_consent_text")
    return _as_text(row)
