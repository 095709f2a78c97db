"""Queues in real life, over socket.io on both backend pairs: a closing day closes the queue
(the widget session says until when, joining is refused), and a visitor who waited past the
queue's maximum wait is told when to try again and taken out of the queue, unless an adviser
is being rung for them at that moment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestServer

from db import create_engine, create_session_factory
from loket.app import create_app
from signaling.models import Call
from tests.conftest import (
    Backend,
    Client,
    base_url,
    connect_adviser,
    connect_visitor,
    make_world,
    visitor_session,
)

AMS = ZoneInfo("Europe/Amsterdam")
NONSTOP = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def today() -> date:
    return datetime.now(AMS).date()


async def stored_call(backend: Backend, call_id: str) -> Call:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.get(Call, uuid.UUID(call_id))
            assert call is not None
            return call
    finally:
        await engine.dispose()


async def test_a_closing_day_closes_the_queue_until_the_next_day_that_opens(
    server, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    first = today()
    world = await make_world(
        backend, closing_days=[first.isoformat(), (first + timedelta(days=1)).isoformat()]
    )
    [queue] = (await visitor_session(url, world))["queues"]
    assert queue["open"] is False
    # Always open but for the two closing days: it opens at midnight after them, local time.
    opens = datetime.fromisoformat(queue["opens_at"])
    assert opens == datetime.combine(first + timedelta(days=2), time(), tzinfo=AMS)

    visitor = await connect_visitor(url, world, clients)
    refused = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert refused["ok"] is False and refused["error"]["code"] == "queue_closed"


async def test_past_the_maximum_wait_the_visitor_hears_when_to_try_again_and_leaves_the_queue(
    server, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    # Open day and night, but closed tomorrow: the next opening period starts the day after.
    joined_on = today()
    world = await make_world(
        backend,
        opening_hours=NONSTOP,
        closing_days=[(joined_on + timedelta(days=1)).isoformat()],
        max_wait_seconds=1,
    )
    away = await connect_adviser(url, (await world.add_user())[0], clients, available=False)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert joined["ok"], joined

    ended = await visitor.wait_for("call:ended", timeout=5)
    assert ended["reason"] == "max_wait" and ended["reference"] == joined["reference"]
    # Computed when the wait ran out; a test running over midnight may see the next day's answer.
    expected = {datetime.combine(d + timedelta(days=2), time(), tzinfo=AMS) for d in (joined_on, today())}
    assert datetime.fromisoformat(ended["retry_at"]) in expected
    assert ended["privacy_key"]

    call = await stored_call(backend, joined["call_id"])
    assert (call.status, call.end_reason) == ("abandoned", "max_wait")
    # Out of the queue: an adviser who becomes available sees nobody waiting and is not rung.
    assert (await away.call("presence:set", {"status": "available"}))["ok"]
    await away.wait_for("queue:snapshot", waiting=[])
    assert away.received("call:incoming") == []
    resumed = await visitor.call("session:resume", {"last_seq": ended["seq"]})
    assert resumed["ok"] and resumed["call"] is None


async def test_a_call_being_rung_when_the_wait_runs_out_is_not_taken_from_the_adviser(
    backend: Backend, clients: list[Client]
) -> None:
    # A ring of its own length here, so the wait runs out well inside it however loaded the machine.
    app = create_app(backend.settings(ring_timeout_seconds=30.0), run_worker=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(shutdown_timeout=5.0)
    try:
        url = base_url(server)
        world = await make_world(backend, max_wait_seconds=1)
        adviser = await connect_adviser(url, (await world.add_user())[0], clients)
        visitor = await connect_visitor(url, world, clients)
        joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
        incoming = await adviser.wait_for("call:incoming")
        # Nothing to wait for: the promise is that nothing happens past the deadline (1 s) and
        # several ticks (0.5 s each).
        await asyncio.sleep(2.5)
        assert visitor.received("call:ended") == [] and adviser.received("call:withdrawn") == []
        assert (await adviser.call("call:accept", {"call_id": incoming["call_id"]}))["ok"]
        await visitor.wait_for("call:accepted")
        assert (await stored_call(backend, joined["call_id"])).status == "active"
    finally:
        for client in clients:
            await client.close()
        await server.close()
