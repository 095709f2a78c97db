"""The admin console's Calls section in real Chromium: a supervisor filters the organisation's
calls by outcome, adviser and period, and downloads the filtered calls as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from tests.api.test_calls_filters import _seed
from tests.conftest import Backend, World, base_url, make_world
from tests.e2e.conftest import DESKTOP, Visitor, eventually
from tests.e2e.test_admin_console import log_in, open_section

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


async def _shown(page: Page, count: int) -> list[str]:
    """The ids of the listed calls, once exactly ``count`` are listed."""
    rows = page.locator("tr[data-call]")
    if count == 0:
        await page.get_by_text("No calls match.").wait_for()
        return []
    await rows.nth(count - 1).wait_for()

    async def exactly() -> bool:
        return await rows.count() == count

    await eventually(exactly, 10, f"{count} calls listed")
    return [await rows.nth(n).get_attribute("data-call") or "" for n in range(count)]


@pytest.mark.timeout(120)
async def test_a_supervisor_filters_calls_and_downloads_them_as_csv(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, _ = await world.add_user("supervisor")
    _, adviser = await world.add_user("adviser", display_name="Ada Adviser")
    _, colleague = await world.add_user("adviser", display_name="Cas Colleague")
    seeded = await _seed(backend, world, adviser, colleague)

    tab = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin-calls")
    page = tab.page
    await log_in(page, email)
    await open_section(page, "Calls")
    assert len(await _shown(page, 5)) == 5
    await page.get_by_role("cell", name="Ada Adviser").wait_for()
    await tab.shot("01-all-calls")

    form = page.get_by_role("search", name="Filter calls")
    await form.get_by_label("Outcome").select_option(label="Abandoned")
    await form.get_by_role("button", name="Filter").click()
    abandoned = await _shown(page, 2)
    assert set(abandoned) == {str(seeded.ids["abandoned"]), str(seeded.ids["other_queue"])}

    await form.get_by_label("Outcome").select_option(label="Answered")
    await form.get_by_label("Adviser").select_option(label="Cas Colleague")
    await form.get_by_role("button", name="Filter").click()
    assert await _shown(page, 1) == [str(seeded.ids["colleagues"])]

    # Days are the organisation's (Amsterdam): the colleague's call began at 00:30 on 2 March.
    await form.get_by_label("Adviser").select_option(label="All advisers")
    await form.get_by_label("From").fill("2026-03-02")
    await form.get_by_label("To").fill("2026-03-02")
    await form.get_by_role("button", name="Filter").click()
    assert await _shown(page, 1) == [str(seeded.ids["colleagues"])]
    await form.get_by_label("Outcome").select_option(label="Any outcome")
    await form.get_by_role("button", name="Filter").click()
    in_period = await _shown(page, 2)
    await tab.shot("02-filtered")

    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download CSV").click()
    download = await waiting.value
    assert download.suggested_filename.startswith("calls-") and download.suggested_filename.endswith(".csv")
    path = await download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [row["id"] for row in rows] == in_period
    assert {row["status"] for row in rows} == {"ended", "abandoned"}
    assert not tab.errors, tab.errors
