"""The whole journey in two real browsers: a visitor on a dealer's page (another origin)
calls, an adviser in the console (/console/) logs in, goes available, hears the ring,
accepts; both see each other, chat both ways, the adviser records with the visitor's
consent (both see the indicator), and the end shows the visitor their reference code.

Screenshots of every step land in ``$LOKET_ARTIFACTS/e2e/console-journey-<viewport>/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from db import create_engine, create_session_factory
from privacy import call_data_key, open_text
from signaling.models import Call, ChatMessage
from tests.conftest import Backend, artifacts_dir, base_url
from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    HostSite,
    adviser_logs_in,
    new_party_page,
    plays,
    visitor_waits,
    world_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


async def stored_call(backend: Backend, reference: str) -> tuple[Call, list[tuple[str, str]]]:
    """The call and its chat lines as (party, text), opened with the call's data key as the app
    can (they are stored sealed: privacy.call_keys)."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine, keys=backend.settings().installation_keys())() as db:
            call = await db.scalar(select(Call).where(Call.reference == reference))
            assert call is not None
            rows = list(await db.scalars(select(ChatMessage).where(ChatMessage.call_id == call.id)))
            key = await call_data_key(db, call.id, create=False)
            return call, [(row.party, open_text(key, call.id, row.id, row.text)) for row in rows]
    finally:
        await engine.dispose()


class Shots:
    def __init__(self, name: str) -> None:
        self.directory: Path = artifacts_dir() / "e2e" / f"console-journey-{name}"
        self.directory.mkdir(parents=True, exist_ok=True)

    async def take(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.directory / f"{name}.png"))


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone-360")])
async def test_a_visitor_and_an_adviser_in_the_console_hold_a_whole_call(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    contexts: Callable[..., Awaitable[BrowserContext]],
    viewport: dict[str, int],
    name: str,
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site, recording_policy="ask")
    email, _ = await world.add_user(display_name="Sanne")
    shots = Shots(name)
    errors: list[str] = []

    # The visitor: the dealer's page embeds the widget with the snippet, on another origin.
    visitor_page = await new_party_page(await contexts(viewport), "visitor", errors)
    assert host_site.origin != url
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    await visitor_waits(visitor_page, page_url, consent=True, shot=shots.take)

    # The adviser logs in to the console in a second browser context.
    console = await new_party_page(await contexts(DESKTOP), "console", errors)
    await adviser_logs_in(console, url, email, available=False, shot=shots.take)
    presence = console.get_by_role("switch", name="Available for calls")
    # The waiting visitor shows in the queue: a wait time and nothing about who they are.
    waiting = console.locator("[data-part=queue] li")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("Sales")
    await expect(waiting).to_contain_text("EN")
    await shots.take(console, "04-console-queue")

    # Available: the call rings, visibly and audibly (WebAudio beeps counted on the page).
    await presence.click()
    ring = console.get_by_role("alertdialog", name="Incoming call")
    await ring.wait_for()
    await expect(presence).to_have_attribute("aria-checked", "true")
    await console.wait_for_function("() => Number(document.body.dataset.ringBeeps || 0) >= 2")
    await shots.take(console, "05-console-ringing")
    await ring.get_by_role("button", name="Accept").click()
    await console.locator("[data-part=call]").wait_for()
    await visitor_page.locator("p.who", has_text="In a call with Sanne").wait_for()

    # Both remote videos play, in both pages.
    await plays(visitor_page, "visitor")
    await plays(console, "adviser")
    await shots.take(visitor_page, "06-visitor-in-call")
    await shots.take(console, "06-console-in-call")

    # Chat both ways: Enter sends in the widget, the Send button in the console.
    question, answer = "Is the blue Polo still for sale?", "Yes, it is here in the showroom."
    await visitor_page.get_by_role("textbox", name="Message to the adviser").fill(question)
    await visitor_page.keyboard.press("Enter")
    adviser_log = console.get_by_role("log", name="Chat")
    await expect(adviser_log.locator("li[data-from=visitor] .text")).to_have_text(question)
    await console.get_by_role("textbox", name="Message to the visitor").fill(answer)
    await console.get_by_role("button", name="Send").click()
    visitor_log = visitor_page.get_by_role("log", name="Chat")
    await expect(visitor_log.locator("li[data-from=adviser] .text")).to_have_text(answer)
    await expect(visitor_log.locator("li[data-from=visitor] .text")).to_have_text(question)
    await shots.take(visitor_page, "07-visitor-chat")
    await shots.take(console, "07-console-chat")

    # With the widget closed, a new line is announced and the launcher says so.
    await visitor_page.get_by_role("button", name="Close").click()
    await console.get_by_role("textbox", name="Message to the visitor").fill("Shall I show you the interior?")
    await console.keyboard.press("Enter")
    launcher = visitor_page.get_by_role("button", name="New message")
    await launcher.wait_for()
    await expect(visitor_page.locator("loket-widget .root > [role=status]")).to_have_text(
        "New message: Shall I show you the interior?"
    )
    await shots.take(visitor_page, "07-visitor-unread")
    await launcher.click()
    await expect(visitor_log.locator("li[data-from=adviser] .text")).to_have_text(
        [answer, "Shall I show you the interior?"]
    )
    await expect(visitor_page.get_by_role("button", name="Back to your call")).to_have_count(0)

    # The visitor consented when joining: the adviser records, and both see the indicator.
    indicator = console.locator("[data-part=recording]")
    await expect(indicator).to_have_text("Not recording")
    await console.get_by_role("button", name="Start recording").click()
    await expect(indicator).to_have_attribute("data-active", "true")
    await expect(indicator).to_have_text("Recording")
    await visitor_page.locator("[data-part=recording]").wait_for(state="visible")
    await shots.take(visitor_page, "08-visitor-recording")
    await shots.take(console, "08-console-recording")

    # The adviser ends; the visitor is shown the reference code the server stored.
    await console.get_by_role("button", name="End call").click()
    code = visitor_page.locator("[data-part=reference]")
    await code.wait_for()
    reference = await code.inner_text()
    call, messages = await stored_call(backend, reference)
    assert call.status == "ended" and call.end_reason == "adviser_ended"
    assert sorted(messages) == sorted(
        [("visitor", question), ("adviser", answer), ("adviser", "Shall I show you the interior?")]
    )
    await expect(console.locator("[data-part=notice]")).to_contain_text(reference)
    await expect(console.locator("[data-part=call]")).to_have_count(0)
    # The adviser's history lists the call.
    await expect(console.locator("[data-part=history] tbody tr").first).to_contain_text(reference)
    await shots.take(visitor_page, "09-visitor-ended")
    await shots.take(console, "09-console-ended")
    assert errors == [], errors
