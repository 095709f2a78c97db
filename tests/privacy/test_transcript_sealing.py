"""Transcripts sealed with their call's data key (issue 12 item 8), on both backend pairs: the
text an older version left in clear is sealed by ``loket privacy seal-text``'s step, the staff
API and the export open it, and shredding the call's key makes every copy unreadable."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from db import create_engine, create_session_factory
from privacy import CallDataKey, open_vtt, seal_plaintext
from privacy.export import call_document
from recordings import KeyUnavailable
from signaling.models import ChatMessage
from tests.api.test_admin_api import as_staff
from tests.api.test_admin_transcripts import SEGMENTS, VTT, add_transcript
from tests.conftest import Backend, World, base_url
from transcription.models import Transcript

CHAT = "Mijn kenteken is AB-123-C"


async def raw_rows(backend: Backend, call_id: uuid.UUID) -> tuple[Any, list[str]]:
    """The transcript row and the chat texts as stored, read without any key."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            transcript = (
                await db.execute(select(Transcript).where(Transcript.call_id == call_id))
            ).scalar_one()
            chat = list(await db.scalars(select(ChatMessage.text).where(ChatMessage.call_id == call_id)))
            return transcript, chat
    finally:
        await engine.dispose()


async def test_transcripts_are_sealed_opened_for_readers_and_shredded_with_the_calls_key(
    server: Any, world: World, backend: Backend
) -> None:
    # As an older version left them: the transcript and a chat line in clear.
    ids = await add_transcript(backend, world)
    call_id, transcript_id = uuid.UUID(ids["call_id"]), uuid.UUID(ids["transcript_id"])
    engine = create_engine(backend.database_url)
    keyed = create_session_factory(engine, keys=backend.settings().installation_keys())
    try:
        async with keyed() as db:
            await db.execute(
                insert(ChatMessage).values(id=uuid.uuid4(), call_id=call_id, party="visitor", text=CHAT)
            )
            await db.commit()

        first = await seal_plaintext(keyed, actor="test")
        assert first.transcripts >= 1 and first.chat_messages >= 1
        row, chat = await raw_rows(backend, call_id)
        assert isinstance(row.segments, str) and row.segments.startswith("sealed:v1:")
        assert row.vtt is not None and row.vtt.startswith("sealed:v1:")
        assert chat and all(text.startswith("sealed:v1:") for text in chat)
        stored = json.dumps([row.segments, row.vtt, chat])
        for said in ("How can I help", "[PHONE]", "WEBVTT", "AB-123-C"):
            assert said not in stored, said
        # Run again, nothing of this call is left to seal (idempotent).
        await seal_plaintext(keyed, actor="test")
        assert (await raw_rows(backend, call_id))[0].vtt == row.vtt

        # Every reader opens it: the staff API (JSON and WebVTT) and the visitor's export.
        supervisor = await as_staff(base_url(server), world, "supervisor")
        answer = await supervisor.get(f"/transcripts/{transcript_id}")
        assert answer.status == 200, answer.body
        assert [segment["text"] for segment in answer.body["segments"]] == [s["text"] for s in SEGMENTS]
        answer = await supervisor.get(f"/transcripts/{transcript_id}", format="vtt")
        assert (answer.status, answer.body) == (200, VTT)
        async with keyed() as db:
            document = await call_document(db, call_id)
        assert document is not None
        body, vtt = document
        assert body["transcript"]["segments"] == SEGMENTS and vtt == VTT
        assert [line["text"] for line in body["chat_messages"]] == [CHAT]

        # Shredding the call's key (what erasure does, with the call) leaves any copy of the
        # sealed transcript unreadable, with every key the installation has.
        async with keyed() as db:
            await db.execute(delete(CallDataKey).where(CallDataKey.call_id == call_id))
            await db.commit()
        answer = await supervisor.get(f"/transcripts/{transcript_id}")
        assert (answer.status, answer.error_code) == (410, "key_unavailable")
        with pytest.raises(KeyUnavailable):
            open_vtt(None, call_id, transcript_id, row.vtt)
    finally:
        await engine.dispose()
