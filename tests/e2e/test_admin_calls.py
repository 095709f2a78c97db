"""The admin console's Calls and Wallboard sections in real Chromium: a supervisor filters the
organisation's calls by outcome, adviser and period and downloads them as CSV, and watches a
visitor wait and an adviser's phone ring on the wallboard without reloading."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from tests.api.test_calls_filters import _seed
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor, make_world
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


@pytest.mark.timeout(120)
async def test_the_wallboard_shows_a_waiting_visitor_and_the_adviser_ringing_without_a_reload(
    loket: TestServer,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    clients: list[Client],
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, _ = await world.add_user("supervisor")
    adviser_email, adviser_id = await world.add_user("adviser", display_name="Ada Adviser")
    adviser = await connect_adviser(url, adviser_email, clients, available=False)

    tab = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin-wallboard")
    page = tab.page
    await log_in(page, email)
    await open_section(page, "Wallboard")
    ada = page.locator(f"tr[data-adviser='{adviser_id}']")
    await ada.get_by_role("cell", name="Away").wait_for()
    sales = page.locator(f"tr[data-queue='{world.queue_id}']")
    await sales.wait_for()
    assert await sales.locator("td").all_inner_texts() == ["Sales", "0", "0", "—"]

    visitor = await connect_visitor(url, world, clients)
    assert (await visitor.call("queue:join", {"queue_id": str(world.queue_id)}))["ok"]

    async def one_waiting() -> bool:
        return (await sales.locator("td").all_inner_texts())[1:3] == ["1", "0"]

    await eventually(one_waiting, 10, "the waiting visitor on the board")
    await tab.shot("01-waiting")

    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]
    await adviser.wait_for("call:incoming")
    await ada.get_by_role("cell", name="Ringing").wait_for(timeout=10_000)

    async def one_ringing() -> bool:
        return (await sales.locator("td").all_inner_texts())[1:3] == ["0", "1"]

    await eventually(one_ringing, 10, "the ringing call on the board")
    await tab.shot("02-ringing")
    assert not tab.errors, tab.errors
