"""Transfer and screen share in real browsers: a visitor (widget) in a call with Sanne (console);
Sanne transfers to Bram (console), who declines, so the call comes back to her; she transfers
again and Bram accepts; the visitor stayed connected throughout and now sees Bram. Bram
records, shares his screen (Chromium's fake display capture, 1280x720), which the visitor
sees large, and stops sharing; the recording's adviser file holds both the camera's and the
screen's frames, since the screen simply is the adviser's video track (replaceTrack).

Screenshots land in ``$LOKET_ARTIFACTS/e2e/transfer/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from db import create_engine, create_session_factory
from recordings import Recording
from signaling.models import Call, CallTransfer
from tests.conftest import Backend, artifacts_dir, base_url
from tests.e2e.conftest import (
    DESKTOP,
    Adviser,
    HostSite,
    adviser_logs_in,
    eventually,
    in_a_call,
    new_party_page,
    plays,
    video_state,
    world_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

SCREEN_WIDTH = 1280  # Chromium's fake display capture
# Milliseconds for each expectation: three browsers and the media run on a loaded machine.
WAIT = 15_000


class Shots:
    def __init__(self) -> None:
        self.directory: Path = artifacts_dir() / "e2e" / "transfer"
        self.directory.mkdir(parents=True, exist_ok=True)

    async def take(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.directory / f"{name}.png"))


async def transfer_to(console: Page, colleague: str, note: str = "") -> None:
    await console.locator("[data-part=transfer]").click()
    panel = console.locator("[data-part=transfer-panel]")
    await panel.get_by_label("Transfer to").select_option(label=colleague)
    if note:
        await panel.get_by_label("Note for the next adviser (optional)").fill(note)
    await panel.get_by_role("button", name="Transfer now").click()


async def advancing(page: Page) -> bool:
    """The page's remote video decodes new frames now (its decoded count is cumulative over the
    connection, so a picture alone may be the previous adviser's)."""
    before = (await video_state(page))["decoded"]
    await page.wait_for_timeout(700)
    return bool((await video_state(page))["decoded"] > before + 5)


async def stored(backend: Backend, reference: str) -> tuple[Call, list[str], list[Recording]]:
    """The call, its transfers' outcomes in order, and its recordings."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.scalar(select(Call).where(Call.reference == reference))
            assert call is not None
            by_time = select(CallTransfer.outcome).order_by(CallTransfer.created_at)
            transfers = await db.scalars(by_time.where(CallTransfer.call_id == call.id))
            recordings = await db.scalars(select(Recording).where(Recording.call_id == call.id))
            return call, list(transfers), list(recordings)
    finally:
        await engine.dispose()


def video_widths(path: str) -> set[int]:
    """The widths of the video frames a WebM file decodes to."""
    widths: set[int] = set()
    with av.open(path) as container:
        for frame in container.decode(video=0):
            widths.add(frame.width)
    return widths


@pytest.mark.timeout(240)
async def test_advisers_pass_a_call_between_consoles_and_share_a_screen_the_visitor_sees_large(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    contexts: Callable[..., Awaitable[BrowserContext]],
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site, recording_policy="ask")
    sanne_email, _ = await world.add_user(display_name="Sanne")
    bram_email, _ = await world.add_user(display_name="Bram")
    shots = Shots()
    errors: list[str] = []

    visitor = await new_party_page(await contexts(DESKTOP), "visitor", errors)
    sanne = await new_party_page(await contexts(DESKTOP), sanne_email, errors)
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    await in_a_call(
        visitor, sanne, url=url, page_url=page_url, adviser=Adviser(sanne_email, "Sanne"), consent=True
    )
    # The page's API: what it hears of a transfer.
    await visitor.evaluate(
        "() => { window.__loket = []; "
        "window.Loket.on('transferred', (data) => window.__loket.push(['transferred', data])); }"
    )
    bram = await new_party_page(await contexts(DESKTOP), bram_email, errors)
    await adviser_logs_in(bram, url, bram_email)

    # Sanne transfers to Bram; Bram declines: the call comes back to Sanne, the visitor never left.
    await transfer_to(sanne, "Bram", note="Quote Q-2291")
    await expect(sanne.locator("[data-part=transfer-state]")).to_contain_text("Ringing Bram", timeout=WAIT)
    ring = bram.get_by_role("alertdialog", name="Incoming call")
    await expect(ring).to_contain_text("Transferred by a colleague: “Quote Q-2291”", timeout=WAIT)
    await expect(visitor.locator("loket-widget .stage[data-transferring=true]")).to_have_count(
        1, timeout=WAIT
    )
    await expect(visitor.locator("loket-widget .stage .state")).to_have_text(
        "You are being transferred. Please hold on…", timeout=WAIT
    )
    # The page's API hears of it, with nothing about the call or the visitor.
    assert await visitor.evaluate("() => window.__loket") == [["transferred", {}]]
    await shots.take(sanne, "01-sanne-ringing-bram")
    await shots.take(bram, "01-bram-rung-with-note")
    await shots.take(visitor, "01-visitor-being-transferred")
    await ring.get_by_role("button", name="Decline").click()
    await expect(sanne.locator("[data-part=transfer-state]")).to_contain_text("declined", timeout=WAIT)
    await expect(visitor.locator("loket-widget .stage[data-transferring=false]")).to_have_count(
        1, timeout=WAIT
    )
    await plays(visitor, "visitor, back with Sanne")
    await shots.take(sanne, "02-sanne-transfer-declined")

    # Again; Bram accepts: Sanne is free, the visitor talks to Bram on the same connection.
    pcs_before = await visitor.evaluate("() => window.__pcs.length")
    await transfer_to(sanne, "Bram")
    await ring.get_by_role("button", name="Accept").click()
    await bram.locator("[data-part=call]").wait_for()
    await expect(sanne.locator("[data-part=call]")).to_have_count(0, timeout=WAIT)
    await expect(sanne.locator("[data-part=notice]")).to_have_text(
        "Your colleague took the call.", timeout=WAIT
    )
    await visitor.locator("p.who", has_text="In a call with Bram").wait_for()
    await plays(bram, "Bram")
    await eventually(lambda: advancing(visitor), 20, "the visitor receiving Bram's video")
    assert await visitor.evaluate("() => window.__pcs.length") == pcs_before, (
        "the visitor kept their connection"
    )
    await shots.take(visitor, "03-visitor-with-bram")
    await shots.take(bram, "03-bram-in-call")
    await shots.take(sanne, "03-sanne-free")

    # Bram records, then shares his screen: the visitor's remote video becomes the screen, large.
    await bram.get_by_role("button", name="Start recording").click()
    await expect(bram.locator("[data-part=recording]")).to_have_attribute("data-active", "true", timeout=WAIT)
    camera_width = (await video_state(visitor))["width"]
    assert 0 < camera_width < SCREEN_WIDTH
    await bram.locator("[data-part=share]").click()
    await expect(bram.locator("[data-part=share]")).to_have_text("Stop sharing", timeout=WAIT)
    await expect(visitor.locator("loket-widget .stage.sharing")).to_have_count(1, timeout=WAIT)

    async def shows_screen() -> bool:
        return bool((await video_state(visitor))["width"] == SCREEN_WIDTH)

    await eventually(shows_screen, 15, "the visitor receiving the shared screen")
    await asyncio.sleep(1.5)  # a second and a half of the screen in the recording
    await shots.take(visitor, "04-visitor-sees-shared-screen")
    await shots.take(bram, "04-bram-sharing")

    # Stop sharing: the camera is back, for the visitor too.
    await bram.locator("[data-part=share]").click()
    await expect(visitor.locator("loket-widget .stage.sharing")).to_have_count(0, timeout=WAIT)

    async def shows_camera() -> bool:
        # The camera's width, possibly scaled by the sender's bandwidth estimate: not the screen's.
        return bool(0 < (await video_state(visitor))["width"] < SCREEN_WIDTH)

    await eventually(shows_camera, 15, "the visitor receiving the camera again")
    await bram.get_by_role("button", name="Stop recording").click()
    await expect(bram.locator("[data-part=recording]")).to_have_attribute(
        "data-active", "false", timeout=WAIT
    )
    await bram.get_by_role("button", name="End call").click()
    reference = await visitor.locator("[data-part=reference]").inner_text()

    call, transfers, recordings = await stored(backend, reference)
    assert (call.status, call.transfers, transfers) == ("ended", 1, ["declined", "accepted"])
    adviser_files = [r.spool_path for r in recordings if r.participant == "adviser" and r.spool_path]
    assert len(adviser_files) == 1, recordings
    widths = await asyncio.to_thread(video_widths, adviser_files[0])
    assert SCREEN_WIDTH in widths and min(widths) < SCREEN_WIDTH, f"the adviser's recording holds {widths}"
    assert errors == [], errors
