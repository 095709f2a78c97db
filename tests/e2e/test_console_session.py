"""The staff session of the consoles (widget/src/staff/) in real Chromium: login errors, the
authenticator code when the account has one, the refresh token kept in sessionStorage only,
a 401 answered by one refresh and a retry, a reload that resumes, and a logout that revokes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Request, Route, expect
from sqlalchemy import update

from accounts.models import User
from db import create_engine, create_session_factory
from tests.conftest import (
    PASSWORD,
    Backend,
    Client,
    World,
    artifacts_dir,
    base_url,
    connect_visitor,
    make_world,
)
from tests.e2e.conftest import DESKTOP, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]
REFRESH_KEY = "loket.staff.refresh"


@pytest.fixture
async def console(browser: Browser, loket: TestServer) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{base_url(loket)}/console/")
    yield page
    await context.close()


async def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def storage(page: Page) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = await page.evaluate(
        "() => ({session: {...sessionStorage}, local: {...localStorage}})"
    )
    return result


async def refresh_status(url: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/auth/refresh", json={"refresh_token": token}) as response,
    ):
        return response.status


@pytest.mark.timeout(90)
async def test_the_console_session_logs_in_refreshes_on_401_resumes_on_reload_and_logs_out(
    console: Page, loket: TestServer, backend: Backend
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, _ = await world.add_user(display_name="Sanne")
    shots = artifacts_dir() / "e2e" / "console-session"
    shots.mkdir(parents=True, exist_ok=True)

    await log_in(console, email, "not the password")
    await expect(console.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
    await console.screenshot(path=str(shots / "01-wrong-password.png"))
    await log_in(console, email)
    await expect(console.locator(".me")).to_have_text("Sanne")
    kept = await storage(console)
    # Only the refresh token is kept, and only for this tab; the access token stays in memory.
    assert list(kept["session"]) == [REFRESH_KEY] and kept["local"] == {}
    first_refresh = kept["session"][REFRESH_KEY]

    # The next history request is refused once with 401: the session refreshes and retries.
    seen: list[str] = []

    async def refuse_once(route: Route, request: Request) -> None:
        seen.append(request.headers.get("authorization", ""))
        if len(seen) == 1:
            body = {"error": {"code": "token_expired", "message": "expired"}}
            await route.fulfill(status=401, content_type="application/json", body=json.dumps(body))
        else:
            await route.continue_()

    await console.route("**/api/v1/calls*", refuse_once)
    async with console.expect_response("**/api/v1/auth/refresh") as refreshed:
        await console.get_by_role("button", name="Refresh").click()
    assert (await refreshed.value).status == 200

    async def retried() -> bool:
        return len(seen) >= 2

    await eventually(retried, 10, "the refused request retried")
    assert all(auth.startswith("Bearer ") for auth in seen)
    await expect(console.locator("[data-part=history] [role=status]")).to_have_text("No calls yet.")
    rotated = (await storage(console))["session"][REFRESH_KEY]
    assert rotated != first_refresh
    await console.unroute("**/api/v1/calls*")

    # A reload resumes from the refresh token without asking for the password.
    await console.reload()
    await expect(console.locator(".me")).to_have_text("Sanne")
    await expect(console.locator(".conn")).to_have_text("Online")
    await console.screenshot(path=str(shots / "02-resumed.png"))
    current = (await storage(console))["session"][REFRESH_KEY]

    # Logging out forgets the token here and revokes it on the server.
    await console.get_by_role("button", name="Log out").click()
    await expect(console.get_by_role("button", name="Log in")).to_be_visible()
    assert (await storage(console))["session"] == {}
    assert await refresh_status(url, current) == 401
    await console.reload()
    await expect(console.get_by_role("button", name="Log in")).to_be_visible()


@pytest.mark.timeout(60)
async def test_an_account_with_an_authenticator_is_asked_for_its_code(
    console: Page, backend: Backend
) -> None:
    world = await make_world(backend)
    email, user_id = await world.add_user("supervisor", display_name="Mila")
    secret = pyotp.random_base32()
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await db.execute(update(User).where(User.id == user_id).values(totp_secret=secret))
            await db.commit()
    finally:
        await engine.dispose()

    await log_in(console, email)
    code = console.get_by_label("Authenticator code")
    await expect(code).to_be_focused()
    await expect(console.get_by_role("alert")).to_contain_text("6-digit code")
    await code.fill(pyotp.TOTP(secret).now())
    await console.get_by_role("button", name="Log in").click()
    await expect(console.locator(".me")).to_have_text("Mila")


@pytest.mark.timeout(60)
async def test_a_declined_ring_stops_ringing_and_the_visitor_waits_on(
    console: Page, loket: TestServer, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    email, _ = await world.add_user(display_name="Sanne")
    await log_in(console, email)
    presence = console.get_by_role("switch", name="Available for calls")
    await presence.click()
    await expect(presence).to_have_attribute("aria-checked", "true")

    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id), "language": "nl"})
    ring = console.get_by_role("alertdialog", name="Incoming call")
    await expect(ring).to_contain_text("Sales, NL")
    await expect(ring.get_by_role("button", name="Accept")).to_be_focused()
    await console.wait_for_function("() => Number(document.body.dataset.ringBeeps || 0) >= 1")
    await ring.get_by_role("button", name="Decline").click()
    await expect(ring).to_be_hidden()
    beeps = await console.evaluate("() => Number(document.body.dataset.ringBeeps)")
    await console.wait_for_timeout(2500)
    assert await console.evaluate("() => Number(document.body.dataset.ringBeeps)") == beeps  # silent now
    waiting = console.locator("[data-part=queue] li")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("NL")
    assert (await visitor.call("queue:leave"))["ok"], joined
    await expect(waiting).to_have_count(0)


@pytest.mark.timeout(60)
async def test_a_console_reloaded_during_a_call_does_not_ring_again_for_its_history(
    console: Page, loket: TestServer, backend: Backend, clients: list[Client]
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    email, _ = await world.add_user(display_name="Sanne")
    await log_in(console, email)
    await console.get_by_role("switch", name="Available for calls").click()
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await console.get_by_role("button", name="Accept").click()
    await console.locator("[data-part=call]").wait_for()
    await console.get_by_role("textbox", name="Message to the visitor").fill("One moment please")
    await console.keyboard.press("Enter")
    assert (await visitor.wait_for("chat:message"))["text"] == "One moment please"

    # Reloading closes the page's peer connection, which ends the call on the server. The
    # fresh page resumes from seq 0: the replayed history (the ring, the call) is not drawn
    # again; the resume state (no call) is.
    await console.reload()
    await expect(console.locator(".conn")).to_have_text("Online")
    assert (await visitor.wait_for("call:ended"))["reason"] == "adviser_left"
    await console.wait_for_timeout(1000)
    assert await console.get_by_role("alertdialog").count() == 0
    assert await console.locator("[data-part=call]").count() == 0
    await expect(console.locator("[data-part=history] tbody tr").first).to_contain_text(joined["reference"])
