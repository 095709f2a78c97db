"""``GET /wallboard``: visitors waiting and ringing per queue, the longest wait and each adviser's
state, read from the live state that real socket.io clients change (both backend pairs: the
memory store and Redis)."""

from __future__ import annotations

import asyncio

from tests.api.test_admin_api import as_staff
from tests.conftest import Client, World, base_url, connect_adviser, connect_visitor


async def test_the_wallboard_follows_a_visitor_from_waiting_to_ringing_to_answered(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    supervisor = await as_staff(url, world, "supervisor")
    email, adviser_id = await world.add_user("adviser", display_name="Ada Adviser")
    adviser = await connect_adviser(url, email, clients, available=False)

    empty = (await supervisor.get("/wallboard")).body
    assert empty["longest_wait_seconds"] is None
    assert [(q["name"], q["waiting"], q["ringing"]) for q in empty["queues"]] == [("Sales", 0, 0)]
    assert [(a["user_id"], a["display_name"], a["presence"], a["activity"]) for a in empty["advisers"]] == [
        (str(adviser_id), "Ada Adviser", "away", "idle")
    ]

    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert joined["ok"], joined
    await asyncio.sleep(1.1)
    waiting = (await supervisor.get("/wallboard")).body
    [sales] = waiting["queues"]
    assert (sales["waiting"], sales["ringing"]) == (1, 0)
    assert 1.0 <= sales["longest_wait_seconds"] < 30
    assert waiting["longest_wait_seconds"] == sales["longest_wait_seconds"]

    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]
    await adviser.wait_for("call:incoming")
    ringing = (await supervisor.get("/wallboard")).body
    assert (ringing["queues"][0]["waiting"], ringing["queues"][0]["ringing"]) == (0, 1)
    assert (ringing["advisers"][0]["presence"], ringing["advisers"][0]["activity"]) == (
        "available",
        "ringing",
    )

    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    answered = (await supervisor.get("/wallboard")).body
    assert (answered["queues"][0]["waiting"], answered["queues"][0]["ringing"]) == (0, 0)
    assert answered["longest_wait_seconds"] is None
    assert answered["advisers"][0]["activity"] == "busy"


async def test_only_supervisors_and_admins_see_the_wallboard(server, world: World) -> None:
    url = base_url(server)
    for role, status in (("admin", 200), ("supervisor", 200), ("adviser", 403), ("dpo", 403)):
        answer = await (await as_staff(url, world, role)).get("/wallboard")
        assert answer.status == status, (role, answer.body)
