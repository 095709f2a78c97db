"""Photos and the rear camera in a real call between two Chromium pages: the visitor (widget on
a dealer's page) switches camera without renegotiating and sends a phone photo carrying GPS EXIF
and a rotation; the adviser (console) sees it upright, and what the server stored, decrypted,
carries no EXIF, GPS or XMP. The adviser takes a snapshot and the visitor is told.

Chromium's fake capture offers three cameras here (``device-count=3``). Screenshots land in
``$LOKET_ARTIFACTS/e2e/call-photos/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from privacy.attachments import CallAttachment, open_sealed
from signaling.models import Call
from tests.conftest import Backend, artifacts_dir, base_url
from tests.e2e.conftest import (
    DESKTOP,
    KEEP_PEER_CONNECTIONS,
    Adviser,
    HostSite,
    in_a_call,
    new_party_page,
    plays,
    world_for,
)
from tests.signaling.photo_samples import phone_photo
from tests.signaling.test_attachments import assert_clean_and_upright, master_keys

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

# The visitor's video sender: its track's device and id, and how many offers the page made.
SENDER = """() => {
  const pcs = (window.__pcs || []).filter((pc) => pc.connectionState !== 'closed');
  const sender = pcs.flatMap((pc) => pc.getSenders()).find((s) => s.track && s.track.kind === 'video');
  return {connections: pcs.length, offers: window.__offers || 0,
          track: sender ? sender.track.id : null,
          device: sender ? sender.track.getSettings().deviceId : null,
          live: sender ? sender.track.readyState : null};
}"""
COUNT_OFFERS = """(() => {
  const original = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    window.__offers = (window.__offers || 0) + 1;
    return original.apply(this, args);
  };
})();"""


@pytest.fixture
def console_flags(console_flags: list[str]) -> list[str]:
    """Three fake cameras instead of one."""
    fake = "--use-fake-device-for-media-stream"
    return [*(flag for flag in console_flags if flag != fake), f"{fake}=device-count=3"]


@pytest.fixture
def page_scripts() -> list[str]:
    return [KEEP_PEER_CONNECTIONS, COUNT_OFFERS]


async def stored_attachments(backend: Backend, call_id: uuid.UUID) -> list[CallAttachment]:
    from db import create_engine, create_session_factory

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            query = select(CallAttachment).where(CallAttachment.call_id == call_id)
            return list(await db.scalars(query.order_by(CallAttachment.created_at)))
    finally:
        await engine.dispose()


async def active_call(backend: Backend, org_id: uuid.UUID) -> uuid.UUID:
    """This organisation's active call: the embedded database is shared with earlier tests, whose calls may
    still be marked active."""
    from db import create_engine, create_session_factory

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            query = select(Call.id).where(Call.status == "active", Call.org_id == org_id)
            call_id = await db.scalar(query)
            assert call_id is not None
            return call_id
    finally:
        await engine.dispose()


@pytest.mark.timeout(150)
async def test_a_phone_photo_reaches_the_adviser_upright_without_metadata_and_the_camera_switches(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    contexts: Callable[..., Awaitable[BrowserContext]],
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    email, _ = await world.add_user(display_name="Sanne")
    shots = artifacts_dir() / "e2e" / "call-photos"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    async def shot(page: Page, name: str) -> None:
        await page.screenshot(path=str(shots / f"{name}.png"))

    visitor = await new_party_page(await contexts({"width": 420, "height": 860}), "visitor", errors)
    console = await new_party_page(await contexts(DESKTOP), "console", errors)
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    await in_a_call(visitor, console, url=url, page_url=page_url, adviser=Adviser(email, "Sanne"))

    # Two cameras: the widget offers the switch; the sender's track changes, no new offer.
    switch = visitor.get_by_role("button", name="Switch camera")
    await expect(switch).to_be_visible()
    before = await visitor.evaluate(SENDER)
    assert before["connections"] == 1 and before["device"], before
    seen_devices = {before["device"]}
    # Twice: Chromium's second fake camera delivers Y16 (depth) frames, which its VP8 encoder
    # does not take; the third is an ordinary (MJPEG) camera, like a phone's rear one.
    for _ in range(2):
        await switch.click()
        await visitor.wait_for_function(
            f"(seen) => !seen.includes(({SENDER})().device)", arg=sorted(seen_devices)
        )
        after = await visitor.evaluate(SENDER)
        assert after["track"] != before["track"] and after["live"] == "live", (before, after)
        assert after["offers"] == before["offers"] and after["connections"] == 1, (before, after)
        seen_devices.add(after["device"])
    await plays(console, "adviser after the camera switch")
    await shot(visitor, "01-visitor-camera-switched")

    # The visitor sends a phone photo: GPS EXIF, XMP, ICC, a comment, stored on its side.
    await visitor.locator("[data-part=photo-input]").set_input_files(
        {"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": phone_photo()}
    )
    seen = console.get_by_role("log", name="Chat").locator("li[data-from=visitor] img[data-part=chat-image]")
    await expect(seen).to_have_count(1)
    await console.wait_for_function(
        "() => (document.querySelector('li[data-from=visitor] img') || {}).naturalWidth > 0"
    )
    size = await seen.evaluate("(image) => [image.naturalWidth, image.naturalHeight]")
    assert size == [200, 400], f"the adviser should see the photo upright (portrait): {size}"
    mine = visitor.get_by_role("log", name="Chat").locator("li[data-from=visitor] img[data-part=chat-image]")
    await expect(mine).to_have_count(1)
    await shot(visitor, "02-visitor-photo-sent")
    await shot(console, "02-console-photo-received")

    call_id = await active_call(backend, world.org_id)
    [row] = await stored_attachments(backend, call_id)
    assert row.party == "visitor" and row.kind == "photo"
    assert_clean_and_upright(open_sealed(master_keys(backend), row))

    # The adviser takes a snapshot of the visitor's video; the visitor is told, with the image.
    await console.get_by_role("button", name="Take snapshot").click()
    told = visitor.get_by_role("log", name="Chat").locator("li[data-from=adviser]")
    await expect(told).to_contain_text("The adviser took a snapshot of your video.")
    await expect(told.locator("img[data-part=chat-image]")).to_have_count(1)
    await expect(console.locator("li[data-from=adviser] img[data-part=chat-image]")).to_have_count(1)
    rows = await stored_attachments(backend, call_id)
    assert [(r.party, r.kind) for r in rows] == [("visitor", "photo"), ("adviser", "snapshot")]
    await shot(visitor, "03-visitor-told-of-snapshot")
    await shot(console, "03-console-snapshot")
    assert errors == [], errors
