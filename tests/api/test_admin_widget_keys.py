"""``/api/v1/widget-keys``: admins create keys for their websites, restrict and switch them off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from loket.app import create_app
from tests.api.test_admin_api import as_staff
from tests.conftest import Backend, World, base_url

PUBLIC_URL = "https://video.garage.example"


async def widget_session_status(url: str, key: str, origin: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/v1/widget/sessions", json={"widget_key": key}, headers={"Origin": origin}
        ) as response,
    ):
        return response.status


@pytest.fixture
async def public_server(backend: Backend) -> AsyncIterator[TestServer]:
    """The app behind a configured public URL (LOKET_PUBLIC_URL)."""
    app = create_app(backend.settings(public_url=PUBLIC_URL + "/"), run_worker=False)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def test_an_admin_creates_a_key_whose_snippet_points_at_this_server(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    created = await admin.post(
        "/widget-keys",
        {"origins": ["https://Shop.Example:443/", "http://localhost:8080", "https://shop.example"]},
    )
    assert created.status == 201, created.body
    key = created.body
    assert key["key"].startswith("wk_") and key["active"] is True
    assert key["origins"] == ["https://shop.example", "http://localhost:8080"]
    assert key["embed_snippet"] == f'<script src="{url}/widget.js" data-key="{key["key"]}" async></script>'

    listed = {k["id"]: k for k in (await admin.get("/widget-keys")).body}
    assert listed[key["id"]] == key
    assert len(listed) == 2  # the world's own key and this one
    event = await admin.audit_event("widget_key.create", f"widget_key:{key['id']}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"] == {"origins": ["https://shop.example", "http://localhost:8080"]}

    # The key works at once, from its origins only.
    assert await widget_session_status(url, key["key"], "https://shop.example") == 200
    assert await widget_session_status(url, key["key"], "https://elsewhere.example") == 403


async def test_the_snippet_uses_the_configured_public_url(public_server, world: World) -> None:
    admin = await as_staff(base_url(public_server), world, "admin")
    keys = await admin.get("/widget-keys")
    assert keys.status == 200
    assert keys.body[0]["embed_snippet"] == (
        f'<script src="{PUBLIC_URL}/widget.js" data-key="{world.widget_key}" async></script>'
    )


async def test_switching_a_key_off_stops_new_visitor_sessions(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    key_id = (await admin.get("/widget-keys")).body[0]["id"]
    assert await widget_session_status(url, world.widget_key, world.origin) == 200

    off = await admin.patch(f"/widget-keys/{key_id}", {"active": False})
    assert off.status == 200, off.body
    assert off.body["active"] is False and off.body["origins"] == [world.origin]
    assert await widget_session_status(url, world.widget_key, world.origin) == 403
    event = await admin.audit_event("widget_key.update", f"widget_key:{key_id}")
    assert event["actor"] == f"user:{admin.user_id}" and event["details"] == {"active": False}

    on = await admin.patch(f"/widget-keys/{key_id}", {"active": True})
    assert on.status == 200 and on.body["active"] is True
    assert await widget_session_status(url, world.widget_key, world.origin) == 200


async def test_changing_the_origins_moves_the_key_to_the_new_website(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    key_id = (await admin.get("/widget-keys")).body[0]["id"]
    moved = await admin.patch(f"/widget-keys/{key_id}", {"origins": ["https://new-shop.example"]})
    assert moved.status == 200, moved.body
    assert moved.body["origins"] == ["https://new-shop.example"]
    assert await widget_session_status(url, world.widget_key, "https://new-shop.example") == 200
    assert await widget_session_status(url, world.widget_key, world.origin) == 403
    event = await admin.audit_event("widget_key.update", f"widget_key:{key_id}")
    assert event["details"] == {"origins": ["https://new-shop.example"]}
