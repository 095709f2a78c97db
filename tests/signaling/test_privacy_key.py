"""The visitor's privacy key at the end of a call, over socket.io on both backend pairs: only the
visitor's socket ever sees it, the database keeps only its HMAC, and it opens the privacy route."""

from __future__ import annotations

import json
import uuid

import aiohttp
from sqlalchemy import select, text

from api.keys import STORE, TOKENS
from db import create_engine, create_session_factory
from privacy import PrivacyKey, PrivacyRequest, normalise_privacy_key
from signaling.store import keys as store_keys
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor, paired


async def test_only_the_visitor_gets_the_privacy_key_and_the_database_keeps_only_its_hmac(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    visitor, adviser, joined = await paired(server, world, clients)

    ended_ack = await visitor.call("call:end")
    assert ended_ack["ok"], ended_ack
    event = await visitor.wait_for("call:ended")
    key = event["privacy_key"]
    assert normalise_privacy_key(key) == key and key.startswith("PK-") and len(key) == 3 + 32 + 7
    assert ended_ack["privacy_key"] == key, "the ack carries the same key (the widget may draw from it)"
    assert event["reference"] == joined["reference"] and key.replace("-", "") != joined["reference"]
    adviser_event = await adviser.wait_for("call:ended")
    assert "privacy_key" not in adviser_event
    assert key not in json.dumps(adviser.events), "nothing else the adviser got holds the key"

    # The resume log in the realtime store (memory or Redis) keeps the key only sealed ...
    token = visitor.sio.connection_auth["token"]
    room = f"visitor:{server.app[TOKENS].verify_visitor(token).visitor_id}"
    logged = await server.app[STORE].lrange(store_keys.log(room))
    assert any('"call:ended"' in entry for entry in logged), logged
    assert not any(key in entry or key.replace("-", "") in entry for entry in logged), logged
    # ... and a visitor who missed the event gets it, key included, when they resume.
    resumed = await visitor.call("session:resume", {"last_seq": event["seq"] - 1})
    assert resumed["ok"] and resumed["replayed"] >= 1, resumed
    replayed = await visitor.wait_for("call:ended")
    assert replayed["privacy_key"] == key and replayed["seq"] == event["seq"]

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            [row] = list(
                await db.scalars(select(PrivacyKey).where(PrivacyKey.call_id == uuid.UUID(joined["call_id"])))
            )
            assert len(row.digest) == 64 and key not in row.digest
            # Nowhere in the database in clear: not in any text column of any table.
            dump = ""
            for table in ("privacy_keys", "calls", "audit_events", "webhook_deliveries", "access_log"):
                rows = (await db.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608 - fixed names
                dump += json.dumps([list(r) for r in rows], default=str)
            assert key not in dump and key.replace("-", "") not in dump
    finally:
        await engine.dispose()

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/v1/privacy/requests", json={"privacy_key": key.lower(), "kind": "erase"}
        ) as response,
    ):
        assert response.status == 202
        created = await response.json()
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            request = await db.get(PrivacyRequest, uuid.UUID(created["request_id"]))
            assert request is not None and request.call_id == uuid.UUID(joined["call_id"])
            assert request.reference == "", (
                "neither the key nor the reference is kept with a visitor's request"
            )
    finally:
        await engine.dispose()


async def test_a_visitor_leaving_the_queue_gets_a_key_in_the_ack_too(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    await connect_adviser(url, (await world.add_user())[0], clients, available=False)
    visitor = await connect_visitor(url, world, clients)
    assert (await visitor.call("queue:join", {"queue_id": str(world.queue_id)}))["ok"]
    left = await visitor.call("queue:leave")
    assert left["ok"] and normalise_privacy_key(left["privacy_key"]) == left["privacy_key"]
    event = await visitor.wait_for("call:ended")
    assert event["privacy_key"] == left["privacy_key"]
