"""Context from the host page in two real browsers (issue 13, item 5): a dealer's page passes the
car on the script tag (``data-context-vehicle``) and the quote through ``Loket.open({context})``;
the adviser's console shows both on the ring and in the call. A key that is not allowlisted is
dropped by the widget after the server refuses it, and the visitor can still call.

Screenshots land in ``$LOKET_ARTIFACTS/e2e/page-context/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from accounts.models import WidgetKey
from db import create_engine, create_session_factory
from tests.conftest import Backend, artifacts_dir, base_url
from tests.e2e.conftest import DESKTOP, PAGE, HostSite, adviser_logs_in, new_party_page, world_for

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


async def allow_context(backend: Backend, widget_key: str, keys: list[str]) -> None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            key = await db.scalar(select(WidgetKey).where(WidgetKey.key == widget_key))
            assert key is not None
            key.context_keys = keys
            await db.commit()
    finally:
        await engine.dispose()


@pytest.mark.timeout(120)
async def test_the_adviser_sees_the_pages_context_on_the_ring_and_in_the_call(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    contexts: Callable[..., Awaitable[BrowserContext]],
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    await allow_context(backend, world.widget_key, ["vehicle", "quote"])
    email, _ = await world.add_user(display_name="Sanne")
    shots = artifacts_dir() / "e2e" / "page-context"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    async def shot(page: Page, name: str) -> None:
        await page.screenshot(path=str(shots / f"{name}.png"))

    host_site.pages["golf.html"] = PAGE.format(
        loket=url,
        key=world.widget_key,
        lang="en",
        extra="",
        attrs=' data-context-vehicle="VW Golf 2019" data-context-colour="blue"',
    )
    visitor = await (await contexts(DESKTOP)).new_page()
    visitor.set_default_timeout(15_000)
    visitor.on("pageerror", lambda error: errors.append(f"visitor: {error}"))
    warnings: list[str] = []
    visitor.on(
        "console", lambda message: warnings.append(message.text) if message.type == "warning" else None
    )
    await visitor.goto(host_site.url("golf.html"))
    await visitor.wait_for_function("() => window.Loket !== undefined")
    # "colour" is not allowlisted: the server refuses, the widget drops the context and goes on.
    await visitor.evaluate("() => window.Loket.open({context: {quote: 'Q-2291'}})")
    await visitor.get_by_role("button", name="Start video call").click()
    await visitor.locator("[data-part=position]").wait_for()
    assert any("context_key_not_allowed" in text for text in warnings), warnings

    # Now without the stray key: the page is fixed, the context goes through.
    host_site.pages["golf.html"] = PAGE.format(
        loket=url, key=world.widget_key, lang="en", extra="", attrs=' data-context-vehicle="VW Golf 2019"'
    )
    await visitor.get_by_role("button", name="Leave the queue").click()
    await visitor.goto(host_site.url("golf.html"))
    await visitor.wait_for_function("() => window.Loket !== undefined")
    await visitor.evaluate("() => window.Loket.open({context: {quote: 'Q-2291'}})")
    await visitor.get_by_role("button", name="Start video call").click()
    await visitor.locator("[data-part=position]").wait_for()

    console = await new_party_page(await contexts(DESKTOP), "console", errors)
    await adviser_logs_in(console, url, email)
    ring = console.get_by_role("alertdialog", name="Incoming call")
    await expect(ring).to_contain_text("From the page: vehicle: VW Golf 2019 · quote: Q-2291")
    await shot(console, "01-console-ringing-with-context")
    await ring.get_by_role("button", name="Accept").click()
    await expect(console.locator("[data-part=context]")).to_have_text(
        "From the page: vehicle: VW Golf 2019 · quote: Q-2291"
    )
    await shot(console, "02-console-call-with-context")
    assert errors == [], errors
