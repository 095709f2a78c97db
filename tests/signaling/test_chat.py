"""Chat in a call over socket.io, on both backend pairs: stored, relayed to both parties,
replayed on resume, and refused (with an error ack) when it should be."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select

from db import create_engine, create_session_factory
from privacy import CallDataKey, call_data_key, open_text
from recordings import KeyUnavailable
from signaling.models import ChatMessage
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    connect_visitor,
    paired,
    visitor_session,
)


async def stored_messages(backend: Backend, call_id: str) -> list[ChatMessage]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            query = select(ChatMessage).where(ChatMessage.call_id == uuid.UUID(call_id))
            return list(await db.scalars(query.order_by(ChatMessage.created_at)))
    finally:
        await engine.dispose()


async def opened(backend: Backend, rows: list[ChatMessage]) -> list[str]:
    """The lines' texts, opened with their call's data key (privacy.call_keys) as the app can."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine, keys=backend.settings().installation_keys())() as db:
            texts = []
            for row in rows:
                key = await call_data_key(db, row.call_id, create=False)
                texts.append(open_text(key, row.call_id, row.id, row.text))
            return texts
    finally:
        await engine.dispose()


async def test_chat_passes_both_ways_to_both_parties_and_is_stored_with_its_retention(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    visitor, adviser, joined = await paired(server, world, clients)

    sent = await visitor.call("chat:send", {"text": "  Hallo, is de Polo nog te koop?  "})
    assert sent["ok"], sent
    for side in (visitor, adviser):
        message = await side.wait_for("chat:message")
        assert message["id"] == sent["id"]
        assert message["from"] == "visitor"
        assert message["text"] == "Hallo, is de Polo nog te koop?"
        assert message["call_id"] == joined["call_id"]
        assert isinstance(message["seq"], int)
        datetime.fromisoformat(message["sent_at"])

    answer = await adviser.call("chat:send", {"text": "Ja, die staat hier."})
    assert answer["ok"], answer
    for side in (visitor, adviser):
        message = await side.wait_for("chat:message", id=answer["id"])
        assert message["from"] == "adviser" and message["text"] == "Ja, die staat hier."

    stored = await stored_messages(backend, joined["call_id"])
    # Sealed with the call's data key: no line is in the database in clear.
    assert all(m.text.startswith("sealed:v1:") and "Polo" not in m.text for m in stored)
    assert list(zip([m.party for m in stored], await opened(backend, stored), strict=True)) == [
        ("visitor", "Hallo, is de Polo nog te koop?"),
        ("adviser", "Ja, die staat hier."),
    ]
    for row in stored:
        assert row.delete_after is not None
        assert row.delete_after - row.created_at == timedelta(days=30)  # the default chat retention


async def test_a_visitor_who_reconnects_gets_the_messages_it_missed_on_resume(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    token = (await visitor_session(url, world))["visitor_token"]
    visitor = Client("/visitor")
    clients.append(visitor)
    await visitor.connect(url, token)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    accepted = await visitor.wait_for("call:accepted")
    last_seq = max(data["seq"] for _, data in [("call:accepted", accepted), *visitor.events])

    await visitor.close()  # a network drop, inside the resume window (2 s in tests)
    sent = await adviser.call("chat:send", {"text": "Bent u er nog?"})
    assert sent["ok"], sent

    again = Client("/visitor")
    clients.append(again)
    await again.connect(url, token)
    resumed = await again.call("session:resume", {"last_seq": last_seq})
    assert resumed["ok"] and resumed["replayed"] >= 1, resumed
    replayed = await again.wait_for("chat:message", id=sent["id"])
    assert replayed["from"] == "adviser" and replayed["text"] == "Bent u er nog?"
    assert replayed["seq"] > last_seq


async def test_bad_chat_messages_get_error_acks_and_are_not_stored(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    lonely = await connect_visitor(url, world, clients)
    assert (await lonely.call("chat:send", {"text": "hallo?"}))["error"]["code"] == "not_active"

    visitor, adviser, joined = await paired(server, world, clients)
    for payload, code in [
        ({"text": ""}, "empty_message"),
        ({"text": " \n\t "}, "empty_message"),
        ({"text": "x" * 2001}, "message_too_long"),
        ({"text": "x" * 20_000}, "invalid_input"),
        ({"text": 42}, "invalid_input"),
        ({}, "invalid_input"),
        ({"text": "hi", "extra": 1}, "invalid_input"),
        ("hi", "invalid_input"),
    ]:
        ack = await visitor.call("chat:send", payload)
        assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
    assert (await visitor.call("chat:send", {"text": "x" * 2000}))["ok"]  # exactly the limit is fine
    assert (await adviser.call("call:end"))["ok"]
    await visitor.wait_for("call:ended")
    ended = await visitor.call("chat:send", {"text": "nog een vraag"})
    assert ended["error"]["code"] == "not_active"
    assert (await adviser.call("chat:send", {"text": "tot ziens"}))["error"]["code"] == "not_active"
    assert await opened(backend, await stored_messages(backend, joined["call_id"])) == ["x" * 2000]
    assert visitor.sio.connected and adviser.sio.connected


async def test_a_flooding_party_is_rate_limited_without_bothering_the_other(
    server, world: World, clients: list[Client]
) -> None:
    visitor, adviser, _joined = await paired(server, world, clients)
    # 20 lines per 10-second window: 41 in a row overflow a window even across a boundary.
    acks = [await visitor.call("chat:send", {"text": f"spam {n}"}) for n in range(41)]
    refused = [ack for ack in acks if not ack["ok"]]
    assert refused and {ack["error"]["code"] for ack in refused} == {"rate_limited"}
    assert (await adviser.call("chat:send", {"text": "rustig aan"}))["ok"]
    assert visitor.sio.connected and adviser.sio.connected


async def test_shredding_the_calls_data_key_makes_its_chat_unreadable(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    visitor, _, joined = await paired(server, world, clients)
    assert (await visitor.call("chat:send", {"text": "Mijn kenteken is AB-123-C"}))["ok"]
    [row] = await stored_messages(backend, joined["call_id"])
    assert await opened(backend, [row]) == ["Mijn kenteken is AB-123-C"]
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await db.execute(delete(CallDataKey).where(CallDataKey.call_id == row.call_id))
            await db.commit()
    finally:
        await engine.dispose()
    with pytest.raises(KeyUnavailable):
        await opened(backend, [row])
