"""Typed text that starts like sealed text (``sealed:v1:``) is the visitor's words, not a sealed
value: stored in clear by a session without the installation keys, it reads back exactly, and
``loket privacy seal-text`` seals it like any other line."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select

from db import SessionFactory, create_engine, create_session_factory
from db.keys import InstallationKeys
from privacy import call_data_key, open_text, seal_plaintext, seal_text
from signaling.models import ChatMessage
from tests.privacy.seeding import Org

TYPED = [
    "sealed:v1:",
    "sealed:v1:hello",
    # Looks like a real sealed value: valid base64url of a nonce and a tag.
    "sealed:v1:" + "A" * 40,
    "sealed:v1:!escaped?",
    "sealed:v1:sealed:v1:twice",
]


@pytest.mark.parametrize("typed", TYPED)
def test_typed_text_with_the_sealed_prefix_stored_in_clear_reads_back_exactly(typed: str) -> None:
    call_id, row_id = uuid.uuid4(), uuid.uuid4()
    stored = seal_text(None, call_id, row_id, typed)
    assert open_text(None, call_id, row_id, stored) == typed
    # A reader with the call's key opens a row stored in clear too.
    assert open_text(bytes(32), call_id, row_id, stored) == typed


@pytest.mark.parametrize("typed", TYPED)
def test_typed_text_with_the_sealed_prefix_round_trips_sealed(typed: str) -> None:
    call_id, row_id, key = uuid.uuid4(), uuid.uuid4(), bytes(range(32))
    assert open_text(key, call_id, row_id, seal_text(key, call_id, row_id, typed)) == typed


async def test_seal_text_seals_a_clear_line_that_starts_like_sealed_text(
    sessions: SessionFactory, org: Org, database_url: str
) -> None:
    call_id = await org.call()
    line_ids = {typed: uuid.uuid4() for typed in TYPED}
    async with sessions() as db:  # no installation keys: stored in clear
        for typed, line_id in line_ids.items():
            stored = seal_text(None, call_id, line_id, typed)
            await db.execute(
                insert(ChatMessage).values(id=line_id, call_id=call_id, party="visitor", text=stored)
            )
        await db.commit()

    engine = create_engine(database_url)
    try:
        keyed = create_session_factory(engine, keys=InstallationKeys(bytes(range(32))))
        done = await seal_plaintext(keyed, actor="test")
        assert done.chat_messages >= len(TYPED)
        async with keyed() as db:
            key = await call_data_key(db, call_id, create=False)
            assert key is not None
            for typed, line_id in line_ids.items():
                query = select(ChatMessage.text).where(ChatMessage.id == line_id)
                stored = (await db.execute(query)).scalar_one()
                assert stored != typed and typed not in stored.removeprefix("sealed:v1:")
                assert open_text(key, call_id, line_id, stored) == typed
    finally:
        await engine.dispose()
