"""``/api/v1/calls``: advisers see their own calls, supervisors and admins the organisation's;
the calls are made for real, by pairing over socket.io."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    connect_visitor,
    login,
    make_world,
)


async def answered_call(url: str, world: World, adviser: Client, clients: list[Client]) -> dict[str, Any]:
    """A visitor joins, ``adviser`` (the only one available) accepts, the visitor hangs up."""
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id), "language": "nl"})
    assert joined["ok"], joined
    await adviser.wait_for("call:incoming", call_id=joined["call_id"])
    accepted = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert accepted["ok"], accepted
    await visitor.wait_for("call:accepted")
    assert (await visitor.call("call:end"))["ok"]
    await adviser.wait_for("call:ended", call_id=joined["call_id"])
    return joined


async def test_advisers_see_their_own_calls_and_supervisors_the_whole_organisation(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    email_1, adviser_1 = await world.add_user("adviser")
    email_2, adviser_2 = await world.add_user("adviser")
    first = await connect_adviser(url, email_1, clients)
    call_1 = await answered_call(url, world, first, clients)
    assert (await first.call("presence:set", {"status": "away"}))["ok"]
    second = await connect_adviser(url, email_2, clients)
    call_2 = await answered_call(url, world, second, clients)
    assert (await second.call("presence:set", {"status": "away"}))["ok"]
    # Nobody available: this visitor gives up waiting.
    quitter = await connect_visitor(url, world, clients)
    call_3 = await quitter.call("queue:join", {"queue_id": str(world.queue_id)})
    assert call_3["ok"], call_3
    assert (await quitter.call("queue:leave"))["ok"]

    supervisor = await as_staff(url, world, "supervisor")
    admin = await as_staff(url, world, "admin")
    adviser_api = StaffApi(url, (await login(url, email_1))["access_token"], adviser_1, email_1)

    everything = await supervisor.get("/calls")
    assert everything.status == 200, everything.body
    # Newest first.
    assert [c["id"] for c in everything.body] == [call_3["call_id"], call_2["call_id"], call_1["call_id"]]
    assert (await admin.get("/calls")).body == everything.body
    own = await adviser_api.get("/calls")
    assert own.status == 200
    assert [c["id"] for c in own.body] == [call_1["call_id"]]
    # The console's history: a supervisor who takes calls sees only theirs with ?mine=true.
    assert (await supervisor.get("/calls", mine="true")).body == []
    assert (await adviser_api.get("/calls", mine="true")).body == own.body

    by_id = {c["id"]: c for c in everything.body}
    answered = by_id[call_2["call_id"]]
    assert answered["adviser_id"] == str(adviser_2)
    assert answered["reference"] == call_2["reference"]
    assert (answered["status"], answered["end_reason"], answered["language"]) == (
        "ended",
        "visitor_ended",
        "nl",
    )
    assert answered["queue_id"] == str(world.queue_id)
    waited = datetime.fromisoformat(answered["accepted_at"]) - datetime.fromisoformat(answered["created_at"])
    assert answered["waited_seconds"] == waited.total_seconds() >= 0
    assert datetime.fromisoformat(answered["ended_at"]) >= datetime.fromisoformat(answered["accepted_at"])

    abandoned = by_id[call_3["call_id"]]
    assert abandoned["status"] == "abandoned" and abandoned["adviser_id"] is None
    assert abandoned["accepted_at"] is None and abandoned["reference"] == call_3["reference"]
    gave_up = datetime.fromisoformat(abandoned["ended_at"]) - datetime.fromisoformat(abandoned["created_at"])
    assert abandoned["waited_seconds"] == gave_up.total_seconds()
    # No visitor identifier leaves the server.
    assert all("visitor_id" not in call for call in everything.body)

    # Another organisation sees none of it.
    other = await make_world(backend)
    other_admin = await as_staff(url, other, "admin")
    assert (await other_admin.get("/calls")).body == []


async def test_calls_are_paged_with_limit_and_before(server, world: World, clients: list[Client]) -> None:
    url = base_url(server)
    email, _ = await world.add_user("adviser")
    adviser = await connect_adviser(url, email, clients)
    made = [await answered_call(url, world, adviser, clients) for _ in range(3)]
    supervisor = await as_staff(url, world, "supervisor")

    page_1 = await supervisor.get("/calls", limit="2")
    assert page_1.status == 200
    assert [c["id"] for c in page_1.body] == [made[2]["call_id"], made[1]["call_id"]]
    page_2 = await supervisor.get("/calls", limit="2", before=page_1.body[-1]["created_at"])
    assert [c["id"] for c in page_2.body] == [made[0]["call_id"]]
    # The same instant written in another zone is the same cursor.
    cursor = datetime.fromisoformat(page_1.body[-1]["created_at"])
    in_amsterdam = cursor.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert in_amsterdam.endswith("+02:00")
    assert (await supervisor.get("/calls", before=in_amsterdam)).body == page_2.body


async def test_bad_query_parameters_are_422_with_a_clear_message(server, world: World) -> None:
    supervisor = await as_staff(base_url(server), world, "supervisor")
    for params, mentions in [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"before": "yesterday"}, "before"),
        ({"before": "2026-01-01T10:00:00"}, "timezone"),
        ({"page": "2"}, "page"),
    ]:
        answer = await supervisor.get("/calls", **params)
        assert answer.status == 422, (params, answer.body)
        assert answer.error_code == "invalid_input"
        assert mentions in answer.body["error"]["message"], (params, answer.body)
