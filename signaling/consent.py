"""Consent texts and the answers to them.

Texts are versioned: a visitor consents to ``text_id`` in a language, and the SHA-256 of
that exact text is stored with the answer (GDPR art. 7(1): the controller must be able to
show what was consented to). A changed wording gets a new id; old answers keep their hash.
The built-in text is ``recording-v1`` below; an organisation's own wordings and their versions
are in ``signaling.consent_texts``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import utcnow
from signaling.errors import InvalidInput
from signaling.models import Consent

RECORDING_V1 = "recording-v1"

TEXTS: dict[str, dict[str, str]] = {
    RECORDING_V1: {
        "en": (
            "This video call may be recorded so we can check what was agreed. The recording is "
            "encrypted, kept only as long as our retention policy says, and you can ask for it or "
            "have it erased with your reference code. You can withdraw your consent at any time "
            "during the call; recording then stops at once."
        ),
        "nl": (
            "Dit videogesprek kan worden opgenomen, zodat we kunnen nagaan wat is afgesproken. De "
            "opname wordt versleuteld, niet langer bewaard dan ons bewaarbeleid toestaat, en met uw "
            "referentiecode kunt u hem opvragen of laten wissen. U kunt uw toestemming tijdens het "
            "gesprek op elk moment intrekken; de opname stopt dan meteen."
        ),
        "de": (
            "Dieses Videogespräch kann aufgezeichnet werden, damit wir nachvollziehen können, was "
            "vereinbart wurde. Die Aufzeichnung wird verschlüsselt, nur so lange wie in unseren "
            "Aufbewahrungsregeln vorgesehen gespeichert, und mit Ihrem Referenzcode können Sie sie "
            "anfordern oder löschen lassen. Sie können Ihre Einwilligung während des Gesprächs "
            "jederzeit widerrufen; die Aufzeichnung endet dann sofort."
        ),
        "fr": (
            "Cet appel vidéo peut être enregistré afin de vérifier ce qui a été convenu. "
            "L'enregistrement est chiffré, conservé uniquement pendant la durée prévue par notre "
            "politique de conservation, et votre code de référence vous permet de le demander ou de "
            "le faire effacer. Vous pouvez retirer votre consentement à tout moment pendant l'appel ; "
            "l'enregistrement s'arrête alors immédiatement."
        ),
    }
}


@dataclass(frozen=True, slots=True)
class ConsentText:
    id: str
    language: str
    text: str
    # The organisation's version (signaling.consent_texts); None for the built-in text.
    version: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def consent_text(text_id: str, language: str) -> ConsentText:
    languages = TEXTS.get(text_id)
    if languages is None:
        raise InvalidInput(f"unknown consent text {text_id[:50]!r}", code="unknown_consent_text")
    if language not in languages:
        raise InvalidInput(f"consent text {text_id} has no {language!r} version", code="unknown_consent_text")
    return ConsentText(text_id, language, languages[language])


def texts_for(text_id: str) -> list[ConsentText]:
    return [ConsentText(text_id, language, text) for language, text in TEXTS[text_id].items()]


async def record_answer(
    db: AsyncSession, *, call_id: uuid.UUID, party: str, granted: bool, text: ConsentText
) -> Consent:
    """Store an answer. Withdrawing marks the granted answer withdrawn and stores the new one."""
    now = utcnow()
    if not granted:
        previous = await current(db, call_id=call_id, party=party)
        if previous is not None and previous.granted and previous.withdrawn_at is None:
            previous.withdrawn_at = now
    answer = Consent(
        call_id=call_id,
        party=party,
        kind="recording",
        granted=granted,
        text_id=text.id,
        text_hash=text.sha256,
        text_version=text.version,
        language=text.language,
        granted_at=now,
    )
    db.add(answer)
    await db.flush()
    return answer


async def current(db: AsyncSession, *, call_id: uuid.UUID, party: str) -> Consent | None:
    """The party's latest answer for this call (None: never asked or never answered)."""
    return await db.scalar(
        select(Consent)
        .where(Consent.call_id == call_id, Consent.party == party, Consent.kind == "recording")
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(1)
    )


async def granted(db: AsyncSession, *, call_id: uuid.UUID, party: str) -> bool:
    answer = await current(db, call_id=call_id, party=party)
    return answer is not None and answer.granted and answer.withdrawn_at is None
