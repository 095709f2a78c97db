"""Retention of transcripts and chat messages on SQLite and PostgreSQL: deadlines set at creation
follow rule changes, expired rows go with one receipt each (also with two sweeps at once), and a
transcript on legal hold stays, through sweeps and erasure.

As in test_retention.py, sweeps run at most 8 days ahead against rules of 10 days or less: other
tests' rows in the shared databases keep the 30-day default and are never due here.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import privacy.erasure
from db import SessionFactory, audit, create_engine, create_session_factory, utcnow
from privacy import (
    DEFAULT_RETENTION_DAYS,
    RetentionKind,
    change_rule,
    erase_call_data,
    sweep_expired_call_data,
    sweep_expired_calls,
)
from privacy.purge import _claim
from recordings import LegalHold, LocalStorage
from signaling.models import Call, ChatMessage
from tests.privacy.seeding import Org, close_to, receipts
from transcription.models import Transcript

CREATED = timedelta(days=3)  # how long ago the rows were made


async def deadline(
    sessions: SessionFactory, model: type[Transcript] | type[ChatMessage], row_id: uuid.UUID
) -> datetime | None:
    async with sessions() as session:
        found = await session.scalar(select(model.delete_after).where(model.id == row_id))
        return found


async def exists(
    sessions: SessionFactory, model: type[Transcript] | type[ChatMessage] | type[Call], row_id: uuid.UUID
) -> bool:
    async with sessions() as session:
        return await session.scalar(select(model.id).where(model.id == row_id)) is not None


async def test_rule_changes_move_transcript_and_chat_deadlines_and_the_sweep_deletes_with_receipts(
    sessions: SessionFactory, database_url: str, org: Org
) -> None:
    created = utcnow() - CREATED
    sales_call, repairs_call = await org.call(org.sales), await org.call(org.repairs)
    transcripts = {
        "sales": await org.transcript(sales_call, created),
        "repairs": await org.transcript(repairs_call, created),
    }
    held_call = await org.call(org.sales)
    held = await org.transcript(held_call, created)
    async with sessions() as session:
        await session.execute(update(Transcript).where(Transcript.id == held).values(legal_hold=True))
        await session.commit()
    chats = {
        "sales": [await org.chat(sales_call, created) for _ in range(3)],
        "repairs": [await org.chat(repairs_call, created)],
    }
    default = timedelta(days=DEFAULT_RETENTION_DAYS[RetentionKind.TRANSCRIPTS])
    assert close_to(await deadline(sessions, Transcript, transcripts["sales"]), created + default)
    assert close_to(await deadline(sessions, ChatMessage, chats["sales"][0]), created + default)

    # An organisation rule for transcripts moves every transcript but the held one; not chat.
    transcripts_rule = await org.rule(RetentionKind.TRANSCRIPTS, 5)
    for transcript_id in transcripts.values():
        assert close_to(await deadline(sessions, Transcript, transcript_id), created + timedelta(days=5))
    assert close_to(await deadline(sessions, Transcript, held), created + default), "held keeps its deadline"
    assert close_to(await deadline(sessions, ChatMessage, chats["sales"][0]), created + default)
    # A queue rule for chat, earlier, then changed to later: only that queue's chat moves.
    chat_rule = await org.rule(RetentionKind.CHAT, 2, org.sales)
    assert close_to(await deadline(sessions, ChatMessage, chats["sales"][0]), created + timedelta(days=2))
    async with sessions() as session:
        await change_rule(session, chat_rule, days=10, actor="test")
        await session.commit()
    for message_id in chats["sales"]:
        assert close_to(await deadline(sessions, ChatMessage, message_id), created + timedelta(days=10))
    assert close_to(await deadline(sessions, ChatMessage, chats["repairs"][0]), created + default)

    # A held transcript stays even when past its deadline.
    async with sessions() as session:
        await session.execute(update(Transcript).where(Transcript.id == held).values(delete_after=created))
        await session.commit()

    # 6 days on: the transcripts (3 + 5 days) are due, the chat (3 + 10) is not. Two sweeps at once.
    other = create_engine(database_url)
    try:
        results = await asyncio.gather(
            sweep_expired_call_data(sessions, utcnow() + timedelta(days=6), batch=1),
            sweep_expired_call_data(create_session_factory(other), utcnow() + timedelta(days=6), batch=1),
        )
    finally:
        await other.dispose()
    assert sum(result[RetentionKind.TRANSCRIPTS] for result in results) == 2
    assert sum(result[RetentionKind.CHAT] for result in results) == 0
    for transcript_id in transcripts.values():
        assert not await exists(sessions, Transcript, transcript_id)
        [receipt] = await receipts(sessions, f"transcript:{transcript_id}")
        assert receipt.action == "transcript.deleted" and receipt.org_id == org.id
        assert receipt.details["retention"] == {
            "rule": str(transcripts_rule.id),
            "scope": "organisation",
            "kind": "transcripts",
            "days": 5,
        }
    assert await exists(sessions, Transcript, held) and await receipts(sessions, f"transcript:{held}") == []
    assert all([await exists(sessions, ChatMessage, m) for m in chats["sales"] + chats["repairs"]])

    # 8 days on: the sales chat (3 + 10 days) is due; the repairs chat keeps the 30-day default.
    swept = await sweep_expired_call_data(sessions, utcnow() + timedelta(days=8))
    assert swept == {RetentionKind.TRANSCRIPTS: 0, RetentionKind.CHAT: 3, RetentionKind.ATTACHMENTS: 0}
    for message_id in chats["sales"]:
        assert not await exists(sessions, ChatMessage, message_id)
        [receipt] = await receipts(sessions, f"chat_message:{message_id}")
        assert receipt.details["call_id"] == str(sales_call)
        assert receipt.details["retention"]["scope"] == "queue" and receipt.details["retention"]["days"] == 10
        assert "0612345678" not in str(receipt.details), "a receipt holds no chat text"
    assert await exists(sessions, ChatMessage, chats["repairs"][0])
    assert await sweep_expired_call_data(sessions, utcnow() + timedelta(days=8)) == {
        RetentionKind.TRANSCRIPTS: 0,
        RetentionKind.CHAT: 0,
        RetentionKind.ATTACHMENTS: 0,
    }
    async with sessions() as session:
        assert (await audit.verify(session)).ok


async def test_a_transcript_on_legal_hold_keeps_its_call_past_the_call_metadata_retention(
    sessions: SessionFactory, org: Org
) -> None:
    """The transcript row goes with its call (ON DELETE CASCADE): the call-metadata sweep must
    leave the call of a held transcript alone, as it does a call with a recording left."""
    created = utcnow() - CREATED
    await org.rule(RetentionKind.CALL_METADATA, 1)
    held_call, free_call = await org.call(org.sales, created), await org.call(org.sales, created)
    held, free = await org.transcript(held_call, created), await org.transcript(free_call, created)
    async with sessions() as session:
        await session.execute(update(Transcript).where(Transcript.id == held).values(legal_hold=True))
        await session.commit()

    assert await sweep_expired_calls(sessions) >= 1
    assert not await exists(sessions, Call, free_call) and not await exists(sessions, Transcript, free)
    assert await exists(sessions, Transcript, held), "a transcript on legal hold was deleted with its call"
    assert await exists(sessions, Call, held_call) and await receipts(sessions, f"call:{held_call}") == []


async def test_erasing_a_call_whose_transcript_is_on_legal_hold_raises_and_deletes_nothing(
    sessions: SessionFactory, org: Org, tmp_path: Path
) -> None:
    """The transcript goes with its call (ON DELETE CASCADE): erasure must ask the transcript's
    hold, not only the recordings'; lifted, the erasure goes through."""
    storage = LocalStorage(tmp_path / "objects")
    call_id = await org.call(org.sales)
    transcript = await org.transcript(call_id, utcnow())
    message = await org.chat(call_id, utcnow())
    async with sessions() as session:
        await session.execute(update(Transcript).where(Transcript.id == transcript).values(legal_hold=True))
        await session.commit()

    with pytest.raises(LegalHold, match="transcript"):
        await erase_call_data(sessions, storage, call_id, "erasure request")
    assert await exists(sessions, Call, call_id) and await exists(sessions, Transcript, transcript)
    assert await exists(sessions, ChatMessage, message)
    assert await receipts(sessions, f"call:{call_id}") == []

    async with sessions() as session:
        await session.execute(update(Transcript).where(Transcript.id == transcript).values(legal_hold=False))
        await session.commit()
    erased = await erase_call_data(sessions, storage, call_id, "erasure request")
    assert erased.call_deleted and erased.complete
    assert not await exists(sessions, Call, call_id) and not await exists(sessions, Transcript, transcript)
    assert len(await receipts(sessions, f"call:{call_id}")) == 1
    await storage.stop()


async def test_a_hold_put_on_the_transcript_during_an_erasure_keeps_the_call(
    sessions: SessionFactory, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    call_id = await org.call(org.sales)
    transcript = await org.transcript(call_id, utcnow())
    claim_recordings = _claim

    async def hold_arrives(*args: Any, **kwargs: Any) -> Any:
        # After erasure's check, before the call (and with it the transcript) is deleted.
        async with sessions() as session:
            await session.execute(
                update(Transcript).where(Transcript.id == transcript).values(legal_hold=True)
            )
            await session.commit()
        return await claim_recordings(*args, **kwargs)

    monkeypatch.setattr(privacy.erasure, "_claim", hold_arrives)
    with pytest.raises(LegalHold):
        await erase_call_data(sessions, storage, call_id, "erasure request")
    assert await exists(sessions, Call, call_id) and await exists(sessions, Transcript, transcript)
    assert await receipts(sessions, f"call:{call_id}") == []
    await storage.stop()
