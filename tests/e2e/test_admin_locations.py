"""The admin console's Locations section in real Chromium: create a site with its address
ranges, assign a staff member, change the ranges, and delete it once nobody works there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.api.two_factor_fixtures import enrolled
from tests.conftest import Backend, artifacts_dir, base_url, make_world
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_admin_console import api_as, log_in, open_section

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


@pytest.fixture
async def page(browser: Browser, loket: TestServer) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    opened = await context.new_page()
    opened.set_default_timeout(10_000)
    await opened.goto(f"{base_url(loket)}/admin/")
    yield opened
    await context.close()


@pytest.mark.timeout(90)
async def test_an_admin_creates_a_location_assigns_staff_changes_ranges_and_deletes_it(
    page: Page, loket: TestServer, backend: Backend
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    email, codes = await enrolled(url, world, "admin")
    adviser_email, adviser_id = await world.add_user("adviser", display_name="Sanne")
    shots = artifacts_dir() / "e2e" / "admin-locations"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    await log_in(page, email, codes[0])
    await open_section(page, "Locations")
    await expect(page.get_by_text("No locations yet")).to_be_visible()
    form = page.get_by_role("form", name="New location")
    await form.get_by_label("Name").fill("Showroom")
    await form.get_by_label("Address ranges").fill("10.20.9.9/16\n2001:db8:7::/48")
    await form.get_by_role("button", name="Create location").click()
    card = page.locator("[data-location=Showroom]")
    await expect(card.locator("[data-part=ranges]")).to_have_value("10.20.0.0/16\n2001:db8:7::/48")

    await card.locator("[data-part=assign]").select_option(label=f"Sanne ({adviser_email})")
    await card.get_by_role("button", name="Assign").click()
    await expect(card.locator(f"[data-user='{adviser_email}']")).to_be_visible()
    await page.screenshot(path=str(shots / "01-assigned.png"))
    api = await api_as(url, email, codes[1])
    users = {user["id"]: user for user in (await api.get("/users")).body}
    [location] = (await api.get("/locations")).body
    assert users[str(adviser_id)]["location_id"] == location["id"] and location["staff"] == 1

    await card.locator("[data-part=ranges]").fill("not-a-range")
    await card.get_by_role("button", name="Save ranges").click()
    await expect(page.get_by_role("alert")).to_contain_text("not-a-range")
    await card.locator("[data-part=ranges]").fill("192.0.2.0/24")
    await card.get_by_role("button", name="Save ranges").click()
    await expect(page.get_by_role("status")).to_contain_text("Ranges of Showroom saved")
    assert (await api.get("/locations")).body[0]["allow"] == ["192.0.2.0/24"]

    page.once("dialog", lambda dialog: dialog.accept())
    await card.get_by_role("button", name="Delete location").click()
    await expect(page.get_by_role("alert")).to_contain_text("move them first")
    await card.locator(f"[data-user='{adviser_email}']").get_by_role("button", name="Remove").click()
    await expect(card.get_by_text("Nobody yet.")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await card.get_by_role("button", name="Delete location").click()
    await expect(page.get_by_text("No locations yet")).to_be_visible()
    await page.screenshot(path=str(shots / "02-deleted.png"))
    assert errors == []
