"""Bad socket.io input gets a clear error ack and harms neither the connection nor others."""

from __future__ import annotations

import pytest
import socketio

from tests.conftest import Client, World, base_url, connect_adviser, connect_visitor, login, visitor_session


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("queue:join", {"queue_id": "not-a-uuid"}, "invalid_input"),
        ("queue:join", {"queue_id": 42}, "invalid_input"),
        ("queue:join", ["a", "list"], "invalid_input"),
        ("queue:join", "a string", "invalid_input"),
        ("queue:join", {"queue_id": "8d7d2c4e-8b5e-4f44-9c51-1d1c1f7b2a10", "extra": 1}, "invalid_input"),
        (
            "queue:join",
            {"queue_id": "8d7d2c4e-8b5e-4f44-9c51-1d1c1f7b2a10", "language": "dutch"},
            "invalid_input",
        ),
        ("session:resume", {"last_seq": -1}, "invalid_input"),
        ("chat:send", {"text": 5}, "invalid_input"),
        ("chat:send", {"text": "   "}, "empty_message"),
        ("chat:send", {"text": "hallo?"}, "not_active"),
        ("no:such:event", {}, "unknown_event"),
        ("call:accept", {"call_id": "8d7d2c4e-8b5e-4f44-9c51-1d1c1f7b2a10"}, "unknown_event"),
        ("queue:join", {"queue_id": "x" * (70 * 1024)}, "payload_too_large"),
    ],
)
async def test_bad_visitor_events_get_an_error_ack_and_the_connection_stays_usable(
    server, world: World, clients: list[Client], event: str, payload: object, code: str
) -> None:
    url = base_url(server)
    visitor = await connect_visitor(url, world, clients)
    ack = await visitor.call(event, payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == code
    assert isinstance(ack["error"]["message"], str)
    assert ack["error"]["message"]
    assert "Traceback" not in ack["error"]["message"]
    # The same connection still works for a valid request.
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert joined["ok"], joined


async def test_a_flood_of_garbage_from_one_visitor_does_not_disturb_a_call_in_progress(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    vandal = await connect_visitor(url, world, clients)
    for index in range(50):
        await vandal.sio.emit(f"junk:{index}", {"x": "y" * index}, namespace="/visitor")
    assert (await vandal.call("queue:join", {"queue_id": None}))["ok"] is False
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    assert vandal.sio.connected


async def refused(url: str, namespace: str, auth: object) -> None:
    """Assert that connecting to ``namespace`` with ``auth`` is refused."""
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=5)
    await client.disconnect()


async def test_a_visitor_token_cannot_connect_as_an_adviser(server, world: World) -> None:
    url = base_url(server)
    session = await visitor_session(url, world)
    await refused(url, "/adviser", {"token": session["visitor_token"]})


async def test_a_staff_token_cannot_connect_as_a_visitor(server, world: World) -> None:
    url = base_url(server)
    tokens = await login(url, (await world.add_user("adviser"))[0])
    await refused(url, "/visitor", {"token": tokens["access_token"]})


@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": "garbage"}, {"token": 12}])
async def test_connections_without_a_valid_token_are_refused(server, auth: object) -> None:
    await refused(base_url(server), "/visitor", auth)


async def test_a_data_protection_officer_does_not_take_calls(server, world: World) -> None:
    url = base_url(server)
    tokens = await login(url, (await world.add_user("dpo"))[0])
    await refused(url, "/adviser", {"token": tokens["access_token"]})


async def test_an_adviser_cannot_use_visitor_events(server, world: World, clients: list[Client]) -> None:
    adviser = await connect_adviser(base_url(server), (await world.add_user())[0], clients)
    ack = await adviser.call("queue:join", {"queue_id": str(world.queue_id)})
    assert ack["error"]["code"] == "unknown_event"
