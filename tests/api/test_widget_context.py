"""Context from the host page (issue 13, item 5), on both backend pairs: an admin allowlists keys
on a widget key; a widget session carries only allowed, short, non-personal values, which the
adviser sees when ringing and when the call is accepted, stored on the call and in its export;
everything else is refused with a 422 that does not repeat the value."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from db import create_engine, create_session_factory
from privacy.export import call_document
from signaling.models import Call
from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, Client, World, base_url, connect_adviser

SESSIONS = "/api/v1/widget/sessions"


async def open_session(url: str, world: World, context: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + SESSIONS,
            json={"widget_key": world.widget_key, "context": context},
            headers={"Origin": world.origin},
        ) as response,
    ):
        return response.status, await response.json()


async def allow(url: str, world: World, keys: list[str]) -> dict[str, Any]:
    admin = await as_staff(url, world, "admin")
    [key] = [k for k in (await admin.get("/widget-keys")).body if k["key"] == world.widget_key]
    changed = await admin.patch(f"/widget-keys/{key['id']}", {"context_keys": keys})
    assert changed.status == 200, changed.body
    return changed.body


async def test_the_adviser_sees_allowed_context_when_ringing_and_in_the_call_and_it_is_exported(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(server)
    key = await allow(url, world, ["vehicle", "Quote", "vehicle"])
    assert key["context_keys"] == ["vehicle", "quote"]
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)

    status, session = await open_session(url, world, {"vehicle": "VW  Golf 2019", "quote": "Q-2291"})
    assert status == 200, session
    visitor = Client("/visitor")
    clients.append(visitor)
    await visitor.connect(url, session["visitor_token"])
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert joined["ok"], joined

    expected = {"vehicle": "VW Golf 2019", "quote": "Q-2291"}
    ring = await adviser.wait_for("call:incoming")
    assert ring["context"] == expected
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    assert (await adviser.wait_for("call:accepted", call_id=joined["call_id"]))["context"] == expected
    accepted = await visitor.wait_for("call:accepted")
    assert "context" not in accepted  # the visitor's side needs no echo of it

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.get(Call, uuid.UUID(joined["call_id"]))
            assert call is not None and call.context == expected
            found = await call_document(db, call.id)
            assert found is not None and found[0]["context"] == expected
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ({"colour": "blue"}, "context_key_not_allowed"),
        ({"vehicle": "mail jan.jansen@example.nl"}, "context_value_personal"),
        ({"vehicle": "jan (at) example (dot) nl"}, "context_value_personal"),
        ({"vehicle": "bel +31 6 1234 5678"}, "context_value_personal"),
        ({"quote": "06-12345678"}, "context_value_personal"),
        ({"vehicle": "x" * 101}, "context_value_too_long"),
        ({"vehicle": "  "}, "context_value_invalid"),
        ({"vehicle": "a\nb"}, "context_value_invalid"),
        ({f"k{i}": "v" for i in range(11)}, "context_too_many"),
    ],
)
async def test_context_outside_the_allowlist_or_looking_personal_is_refused(
    server, world: World, context: dict[str, str], code: str
) -> None:
    url = base_url(server)
    await allow(url, world, ["vehicle", "quote"])
    status, body = await open_session(url, world, context)
    assert status == 422, body
    assert body["error"]["code"] == code and body["error"]["message"]
    for value in context.values():
        if len(value.strip()) > 3:
            assert value not in body["error"]["message"], "a refusal must not repeat the value"


async def test_a_key_allows_no_context_until_an_admin_names_keys(server, world: World) -> None:
    url = base_url(server)
    status, body = await open_session(url, world, {"vehicle": "VW Golf"})
    assert status == 422 and body["error"]["code"] == "context_key_not_allowed"
    status, body = await open_session(url, world, {})
    assert status == 200, body
    admin = await as_staff(url, world, "admin")
    [key] = [k for k in (await admin.get("/widget-keys")).body if k["key"] == world.widget_key]
    refused = await admin.patch(f"/widget-keys/{key['id']}", {"context_keys": ["Vehicle Model!"]})
    assert refused.status == 422 and refused.body["error"]["code"] == "context_key_invalid"
