"""The admin console's settings for issue 13 in real Chromium: a retention rule of the new kind
``attachments`` (photos) and the context keys a widget key accepts, both saved through the API.

Screenshots land in ``$LOKET_ARTIFACTS/e2e/admin-issue13/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from tests.api.two_factor_fixtures import enrolled
from tests.conftest import Backend, World, base_url, make_world
from tests.e2e.conftest import DESKTOP, Visitor, eventually
from tests.e2e.test_admin_console import api_as, log_in, open_section, rules

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


@pytest.mark.timeout(120)
async def test_an_admin_sets_how_long_photos_are_kept_and_which_context_keys_a_page_may_pass(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, codes = await enrolled(url, world, "admin", display_name="Anna Admin")
    api = await api_as(url, email, codes.pop())
    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin-issue13")
    page = admin.page
    await page.get_by_role("heading", name="Loket").wait_for()
    await log_in(page, email, codes.pop())

    await open_section(page, "Retention rules")
    form = page.get_by_role("form", name="New retention rule")
    await form.get_by_label("Data").select_option("attachments")
    await form.get_by_label("Days to keep").fill("14")
    await form.get_by_role("button", name="Add rule").click()
    await page.get_by_text("Photos (sent and snapshots) now kept for 14 days.").wait_for()
    await admin.shot("01-retention-photos")
    assert [(r["kind"], r["queue_id"], r["days"]) for r in await rules(api)] == [("attachments", None, 14)]

    await open_section(page, "Widget keys")
    card = page.locator(f"article[data-key='{world.widget_key}']")
    await card.get_by_label(f"Context keys of key {world.widget_key}").fill("vehicle, Quote")
    await card.get_by_role("button", name="Save context keys").click()
    await page.get_by_text("Context keys saved.").wait_for()

    async def saved() -> bool:
        keys = (await api.get("/widget-keys")).body
        return [k["context_keys"] for k in keys if k["key"] == world.widget_key] == [["vehicle", "quote"]]

    await eventually(saved, 5, "the context keys saved")
    await card.get_by_label(f"Context keys of key {world.widget_key}").scroll_into_view_if_needed()
    await admin.shot("02-widget-key-context-keys")
    assert admin.errors == [], admin.errors
