"""``/api/v1/consent-texts``: the organisation's own recording-consent wording, per language and
versioned; the widget shows the newest version, and the consent evidence stored with a call
keeps the version and the SHA-256 of the exact text the visitor was shown. Both backend pairs."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from db import create_engine, create_session_factory
from signaling.consent import TEXTS
from signaling.models import Consent
from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, Client, base_url, connect_visitor, make_world, visitor_session

FIRST = "Wij nemen dit gesprek op om de schade vast te leggen. U kunt altijd stoppen."
SECOND = "Wij nemen dit gesprek op. De opname is versleuteld en u kunt haar laten wissen."


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def answers(backend: Backend, call_id: str) -> list[Consent]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(
                select(Consent).where(Consent.call_id == uuid.UUID(call_id)).order_by(Consent.granted_at)
            )
            return list(rows)
    finally:
        await engine.dispose()


async def test_published_versions_are_shown_and_the_evidence_keeps_the_version_and_hash_shown(
    server, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    world = await make_world(backend, recording_policy="ask")
    admin = await as_staff(url, world, "admin")
    adviser = await as_staff(url, world, "adviser")

    before = await admin.get("/consent-texts")
    assert before.status == 200, before.body
    assert before.body["versions"] == []
    assert {(t["id"], t["language"]) for t in before.body["current"]} == {
        ("recording-v1", language) for language in ("de", "en", "fr", "nl")
    }

    # Only an admin or the dpo publishes; bad input is a clear 4xx, never a version.
    refused = await adviser.post("/consent-texts", {"language": "nl", "text": FIRST})
    assert refused.status == 403, refused.body
    for bad in ({"language": "dutch", "text": FIRST}, {"language": "nl", "text": "   "}, {"language": "nl"}):
        answer = await admin.post("/consent-texts", bad)
        assert 400 <= answer.status < 500 and answer.error_code, answer.body

    first = await admin.post("/consent-texts", {"language": "NL", "text": f"  {FIRST} "})
    second = await admin.post("/consent-texts", {"language": "nl", "text": SECOND})
    assert (first.status, second.status) == (201, 201), (first.body, second.body)
    assert (first.body["id"], first.body["version"], first.body["text"]) == ("recording-org-v1", 1, FIRST)
    assert (second.body["version"], second.body["sha256"]) == (2, sha(SECOND))
    event = await admin.audit_event("consent_text.publish", "consent_text:nl:v2")
    assert event["details"] == {"language": "nl", "version": 2, "sha256": sha(SECOND)}

    listed = await admin.get("/consent-texts")
    assert [(v["language"], v["version"]) for v in listed.body["versions"]] == [("nl", 2), ("nl", 1)]

    # The widget shows the newest Dutch version, and the built-in text in the other languages.
    shown = {t["language"]: t for t in (await visitor_session(url, world))["consent_texts"]}
    assert shown["nl"] == {
        "id": "recording-org-v2",
        "language": "nl",
        "text": SECOND,
        "version": 2,
        "sha256": sha(SECOND),
    }
    assert shown["en"]["id"] == "recording-v1" and shown["en"]["version"] is None
    assert shown["en"]["sha256"] == sha(TEXTS["recording-v1"]["en"])
    # Another organisation's visitors never see these words.
    other = await make_world(backend, recording_policy="ask")
    assert {t["language"]: t for t in (await visitor_session(url, other))["consent_texts"]}["nl"]["id"] == (
        "recording-v1"
    )

    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id), "language": "nl"})
    assert joined["ok"], joined
    # The widget's hash of what it displayed must be the stored text's: other words are refused.
    lied = await visitor.call(
        "consent:set",
        {"recording": True, "text_id": "recording-org-v2", "language": "nl", "text_sha256": sha(FIRST)},
    )
    assert lied["ok"] is False and lied["error"]["code"] == "consent_text_mismatch"
    unknown = await visitor.call(
        "consent:set", {"recording": True, "text_id": "recording-org-v3", "language": "nl"}
    )
    assert unknown["error"]["code"] == "unknown_consent_text"
    assert await answers(backend, joined["call_id"]) == []

    granted = await visitor.call(
        "consent:set",
        {"recording": True, "text_id": "recording-org-v2", "language": "nl", "text_sha256": sha(SECOND)},
    )
    assert granted["ok"] and (granted["version"], granted["sha256"]) == (2, sha(SECOND)), granted
    # A visitor who loaded the widget before the edit answers the version they read.
    withdrawn = await visitor.call(
        "consent:set", {"recording": False, "text_id": "recording-org-v1", "language": "nl"}
    )
    assert withdrawn["ok"], withdrawn
    stored = await answers(backend, joined["call_id"])
    assert [(a.granted, a.text_id, a.text_version, a.text_hash, a.language) for a in stored] == [
        (True, "recording-org-v2", 2, sha(SECOND), "nl"),
        (False, "recording-org-v1", 1, sha(FIRST), "nl"),
    ]
