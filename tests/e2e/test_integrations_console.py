"""The admin console's integration sections in real Chromium: an admin creates an API key with one
scope, the key shown once works on REST for exactly that scope, and revoking it in the console makes
it 401; a webhook endpoint is created (its secret shown once) and its delivery attempts are listed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.api.two_factor_fixtures import enrolled
from tests.conftest import PASSWORD, Backend, World, base_url, make_world
from tests.e2e.conftest import DESKTOP, Visitor

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


async def rest(url: str, path: str, key: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        return response.status, await response.json()


@pytest.mark.timeout(120)
async def test_an_admin_makes_and_revokes_an_api_key_and_adds_a_webhook_in_the_console(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, codes = await enrolled(url, world, "admin")
    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="integrations")
    page = admin.page
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_label("Authenticator code").fill(codes.pop())
    await page.get_by_role("button", name="Log in").click()
    nav = page.get_by_role("navigation", name="Sections")

    # -- an API key with one scope ---------------------------------------------------------------
    await nav.get_by_role("link", name="API keys").click()
    await page.get_by_role("heading", name="API keys", level=2).wait_for()
    form = page.get_by_role("form", name="New API key")
    await form.get_by_label("Name").fill("CRM sync")
    await form.get_by_label("calls:read").check()
    await form.get_by_role("button", name="Create API key").click()
    key = (await page.locator("[data-part=new-api-key]").inner_text()).strip()
    assert key.startswith("lk_")
    await page.get_by_role("cell", name="CRM sync").wait_for()
    await admin.shot("01-api-key-created")
    assert (await rest(url, "/calls", key))[0] == 200
    status, body = await rest(url, "/statistics", key)
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")

    await page.get_by_role("row", name="CRM sync").get_by_role("button", name="Revoke").click()
    await page.get_by_text("Key “CRM sync” revoked.").wait_for()
    await page.get_by_role("cell", name="Revoked").wait_for()
    status, body = await rest(url, "/calls", key)
    assert (status, body["error"]["code"]) == (401, "api_key_revoked")
    await admin.shot("02-api-key-revoked")

    # -- a webhook endpoint and its delivery attempts -----------------------------------------------
    await nav.get_by_role("link", name="Webhooks").click()
    await page.get_by_role("heading", name="Webhooks", level=2).wait_for()
    hook_form = page.get_by_role("form", name="New webhook")
    await hook_form.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/loket")
    await hook_form.get_by_label("call.ended").check()
    await hook_form.get_by_role("button", name="Create webhook").click()
    secret = (await page.locator("[data-part=webhook-secret]").inner_text()).strip()
    assert len(secret) >= 32
    card = page.locator("article[data-webhook]")
    await card.get_by_text("http://127.0.0.1:9/loket").wait_for()
    await card.get_by_role("button", name="Delivery attempts").click()
    await card.get_by_text("Nothing delivered yet.").wait_for()
    await admin.shot("03-webhook")
    assert not admin.errors, admin.errors
