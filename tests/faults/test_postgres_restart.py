"""PostgreSQL restarted mid-call, on real processes: one ``loket serve --no-media`` node and one
``loket media`` node on a PostgreSQL cluster of the test's own (the shared one is never
touched). The call goes on; a chat line sent while the database is down is stored once the
database is back (the server retries it), and so is the call's end sent in a second outage, its
webhook queued once: nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from db import create_engine, create_session_factory, migrate
from db.keys import InstallationKeys
from recordings import parse_master_key
from signaling.models import Call
from tests.conftest import Client
from tests.faults.services import OwnPostgres
from tests.integration.deployment import Deploy, both_receiving, chat_lines, start_call
from tests.integration.processes import MASTER_KEY
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer
from webhooks import WebhookDelivery, WebhookEvent, create_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]

DOWN_SECONDS = 2.0


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(own_postgres: OwnPostgres) -> str:
    """This module's processes use the test's own cluster, migrated."""
    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(own_postgres.admin_dsn)
        try:
            await connection.execute("CREATE DATABASE loket")
        finally:
            await connection.close()

    asyncio.run(create())
    url = own_postgres.url("loket")
    migrate.upgrade_sync(url)
    return url


async def test_a_postgres_restart_mid_call_loses_no_chat_line_and_no_call_end(
    deploy: Deploy, own_postgres: OwnPostgres, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1)
    keys = InstallationKeys(master_key=parse_master_key(MASTER_KEY))
    engine = create_engine(deployment.world.backend.database_url)
    sessions = create_session_factory(engine, keys=keys)
    async with sessions() as db:
        await create_endpoint(
            db,
            org_id=deployment.world.org_id,
            url="https://hooks.example.test/loket",
            events=[WebhookEvent.CALL_ENDED],
            actor="test",
        )
        await db.commit()
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)
    visitor, adviser = call.visitor.client, call.adviser.client
    assert (await visitor.call("chat:send", {"text": "before"}))["ok"]
    await adviser.wait_for("chat:message", text="before")

    video = call.adviser.peer.received["video"]
    await asyncio.to_thread(own_postgres.stop)
    stopped_at = time.monotonic()
    frames_before = video.frames
    # A line sent while the database is down: the server holds it until it can store it.
    during = asyncio.create_task(adviser.call("chat:send", {"text": "during"}, timeout=30))
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(own_postgres.start)
    started_at = time.monotonic()
    ack = await during
    stored_after = time.monotonic() - started_at
    print(
        f"\npostgres down {started_at - stopped_at:.1f} s: the line sent meanwhile stored "
        f"{stored_after:.2f} s after it was back"
    )
    assert ack["ok"], ack
    await visitor.wait_for("chat:message", text="during")
    assert video.frames > frames_before  # media never needed the database

    assert (await visitor.call("chat:send", {"text": "after"}))["ok"]
    await adviser.wait_for("chat:message", text="after")
    assert await chat_lines(deployment, call.call_id) == ["before", "during", "after"]

    # The call ended while the database is down again: the end is stored once it is back.
    await asyncio.to_thread(own_postgres.stop)
    ending = asyncio.create_task(visitor.call("call:end", timeout=30))
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(own_postgres.start)
    started_at = time.monotonic()
    ended = await ending
    print(
        f"postgres down again: the call's end stored {time.monotonic() - started_at:.2f} s after it was back"
    )
    assert ended["ok"], ended
    assert ended["privacy_key"]
    await adviser.wait_for("call:ended", call_id=call.call_id)
    try:
        async with sessions() as db:
            row = await db.get(Call, uuid.UUID(call.call_id))
            assert row is not None and row.status == "ended" and row.ended_at is not None
            # The webhook owed for the end was queued exactly once (no worker here sends it).
            deliveries = (await db.scalars(select(WebhookDelivery))).all()
            assert [(d.event, d.payload["call_id"]) for d in deliveries] == [("call.ended", call.call_id)]
    finally:
        await engine.dispose()
