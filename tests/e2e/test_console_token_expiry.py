"""The console in real Chromium when the server closes its socket because the access token
expired (signaling/staff_watch.py): it refreshes the token, reconnects and resumes, and the
adviser notices nothing; calls keep ringing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from loket.app import SIO
from signaling.staff_watch import StaffWatch
from tests.conftest import PASSWORD, Backend, Client, base_url, connect_visitor, make_world
from tests.e2e.conftest import DESKTOP, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


@pytest.fixture
async def console(browser: Browser, loket: TestServer) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{base_url(loket)}/console/")
    yield page
    await context.close()


def staff_watch(server: TestServer) -> StaffWatch:
    watch = server.app[SIO].namespace_handlers["/adviser"].staff_watch
    assert isinstance(watch, StaffWatch)
    return watch


@pytest.mark.timeout(90)
async def test_an_expired_token_closes_the_socket_and_the_console_reconnects_unnoticed(
    console: Page, loket: TestServer, backend: Backend, clients: list[Client]
) -> None:
    world = await make_world(backend)
    email, user_id = await world.add_user(display_name="Sanne")
    errors: list[str] = []
    console.on("pageerror", lambda error: errors.append(str(error)))
    await console.get_by_label("E-mail address").fill(email)
    await console.get_by_label("Password").fill(PASSWORD)
    await console.get_by_role("button", name="Log in").click()
    presence = console.get_by_role("switch", name="Available for calls")
    await expect(console.locator(".conn")).to_have_text("Online")
    await presence.click()
    await expect(presence).to_have_attribute("aria-checked", "true")

    watch = staff_watch(loket)
    before = {sid: socket for sid, socket in watch._sockets.items() if socket.user_id == user_id}
    assert len(before) == 1
    # The token's expiry, brought forward: the server closes the socket as it would at exp.
    async with console.expect_response("**/api/v1/auth/refresh") as refreshed:
        for sid in before:
            watch.expire_now(sid)
    assert (await refreshed.value).status == 200

    async def reconnected() -> bool:
        now = {sid: s for sid, s in watch._sockets.items() if s.user_id == user_id}
        return bool(now) and not set(now) & set(before)

    await eventually(reconnected, 10, "the console reconnected with a new socket")
    after = next(s for s in watch._sockets.values() if s.user_id == user_id)
    # With the refreshed token, not the spent one.
    assert after.expires_at > next(iter(before.values())).expires_at or after.expires_at == float("inf")
    await expect(console.locator(".conn")).to_have_text("Online")
    await expect(console.get_by_role("button", name="Log in")).to_have_count(0)

    # The adviser is still available: a visitor's call rings in the console.
    visitor = await connect_visitor(base_url(loket), world, clients)
    assert (await visitor.call("queue:join", {"queue_id": str(world.queue_id)}))["ok"]
    await console.get_by_role("alertdialog", name="Incoming call").wait_for()
    assert errors == []
