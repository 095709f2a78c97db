"""A visitor's whole call through the embedded widget, in real Chromium with a fake camera.

The adviser is Python: the socket.io helpers of tests/conftest.py and an aiortc peer that
sends synthetic video, so these tests prove the widget against the server alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from db import create_engine, create_session_factory
from privacy.keys import call_for_privacy_key
from signaling import consent_texts
from signaling.models import Call, Consent
from tests.conftest import Backend, Client, base_url, connect_adviser
from tests.e2e.conftest import DESKTOP, PHONE, HostSite, Visitor, eventually, world_for
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

REMOTE_VIDEO = """(root) => {
  const video = root.querySelector('[data-part=remote-video]');
  if (!video || video.videoWidth === 0) return null;
  return {width: video.videoWidth, frames: video.getVideoPlaybackQuality().totalVideoFrames,
          paused: video.paused};
}"""
SELF_VIDEO = """(root) => {
  const video = root.querySelector('video');
  return video ? video.videoWidth : 0;
}"""


async def call_of_key(backend: Backend, privacy_key: str) -> uuid.UUID | None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine, keys=backend.settings().installation_keys())() as db:
            return await call_for_privacy_key(db, privacy_key)
    finally:
        await engine.dispose()


async def stored(backend: Backend, call_id: str) -> tuple[Call, list[Consent]]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.get(Call, uuid.UUID(call_id))
            consents = list(await db.scalars(select(Consent).where(Consent.call_id == uuid.UUID(call_id))))
            assert call is not None
            return call, consents
    finally:
        await engine.dispose()


async def remote_frames(visitor: Visitor) -> int:
    state = await visitor.widget(REMOTE_VIDEO)
    return int(state["frames"]) if state else 0


OWN_TEXT = "This call may be recorded — “Garage Müller” keeps it encrypted for 30 days; say stop at any time."


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone-360")])
async def test_a_visitor_calls_an_adviser_from_another_origin_and_keeps_the_reference(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    adviser_peer: Peer,
    clients: list[Client],
    viewport: dict[str, int],
    name: str,
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site, recording_policy="ask")
    # The organisation's own English wording (with characters beyond ASCII, as a hash trips on):
    # the widget shows it and sends the hash of the words it displayed, which must be the server's.
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await consent_texts.publish(db, org_id=world.org_id, language="en", text=OWN_TEXT, actor="test")
            await db.commit()
    finally:
        await engine.dispose()
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    visitor = await open_visitor(page_url, viewport=viewport, shots=name)
    page = visitor.page

    # The host page learns about the call through the public JS API.
    await page.wait_for_function("() => window.Loket !== undefined")
    await page.evaluate(
        """() => { window.loketEvents = [];
        for (const name of ['accepted', 'ended'])
          window.Loket.on(name, (data) => window.loketEvents.push([name, data])); }"""
    )
    launcher = page.get_by_role("button", name="Video call")
    await launcher.wait_for()
    await visitor.shot("01-launcher")

    # Pre-call: camera preview, the queue, the consent text of a recording queue.
    await launcher.click()
    await eventually(lambda: visitor.widget(SELF_VIDEO), 15, "the camera preview")
    consent = page.get_by_role("checkbox", name="I agree that this call may be recorded")
    await consent.wait_for()
    assert "may be recorded" in (await page.locator("[data-part=consent]").inner_text())
    await consent.check()
    await visitor.shot("02-precall")

    # Waiting: nobody is available yet, so no ETA is promised.
    await page.get_by_role("button", name="Start video call").click()
    position = page.locator("[data-part=position]")
    await position.wait_for()
    assert "You are next." in await position.inner_text()
    assert "as soon as possible" in await position.inner_text()
    await visitor.shot("03-waiting")

    # An adviser goes available, is rung, accepts and offers media.
    email, _ = await world.add_user(display_name="Sanne")
    adviser = await connect_adviser(url, email, clients)
    ring = await adviser.wait_for("call:incoming", timeout=10)
    assert (await adviser.call("call:accept", {"call_id": ring["call_id"]}))["ok"]
    answered = await adviser_peer.offer_through(adviser)
    assert answered["ok"], answered
    await page.locator("p.who", has_text="In a call with Sanne").wait_for()

    # Both ways: the widget plays the adviser's video, the adviser receives the browser's.
    await eventually(lambda: remote_frames(visitor), 20, "the adviser's video playing in the widget")
    before = await remote_frames(visitor)
    await adviser_peer.first_video_within(20)
    sent_before = adviser_peer.received["video"].frames
    await asyncio.sleep(1.5)
    assert await remote_frames(visitor) > before + 5, "the remote video is not advancing"
    assert adviser_peer.received["video"].frames > sent_before + 5, "the adviser gets no browser video"
    state = await visitor.widget(REMOTE_VIDEO)
    assert state["width"] == 640 and not state["paused"], state

    # Consent was stored with the join; the adviser records; the visitor sees it.
    _, consents = await stored(backend, ring["call_id"])
    assert [(c.granted, c.text_id, c.text_version, c.text_hash) for c in consents] == [
        (True, "recording-org-v1", 1, hashlib.sha256(OWN_TEXT.encode()).hexdigest())
    ]
    assert (await adviser.call("recording:start"))["ok"]
    indicator = page.locator("[data-part=recording]")
    await indicator.wait_for(state="visible")
    assert "Recording" in await indicator.inner_text()
    await visitor.shot("04-call-recording")

    # The visitor withdraws consent from the indicator: recording stops for both at once.
    await indicator.get_by_role("button", name="Stop recording").click()
    await indicator.wait_for(state="hidden")
    assert (await adviser.wait_for("recording:state", active=False))["reason"] == "consent_withdrawn"

    # Ending shows the visitor's privacy key (its HMAC is what the server stored for this call)
    # and the call's reference.
    await page.get_by_role("button", name="End call").click()
    key_shown = page.locator("[data-part=privacy-key]")
    await key_shown.wait_for()
    privacy_key = await key_shown.inner_text()
    call, _ = await stored(backend, ring["call_id"])
    assert await call_of_key(backend, privacy_key) == call.id
    assert await page.locator("[data-part=reference]").inner_text() == call.reference
    assert call.status == "ended"
    await adviser.wait_for("call:ended", timeout=5)
    await page.get_by_role("button", name="4 stars").click()
    await page.get_by_text("Thank you for your rating!").wait_for()
    assert (await stored(backend, ring["call_id"]))[0].rating == 4  # thanked once stored
    link = page.get_by_role("link", name="Request a copy or erasure")
    assert await link.get_attribute("href") == f"{url}/privacy/request#key={privacy_key}"
    await visitor.shot("05-ended")

    events = await page.evaluate("() => window.loketEvents")
    assert events == [
        ["accepted", {}],
        ["ended", {"reason": "visitor_ended"}],
    ]
    assert visitor.errors == [], visitor.errors
    # After the call the camera is released.
    assert await page.evaluate(
        "() => [...document.querySelector('loket-widget').shadowRoot.querySelectorAll('video')]"
        ".every((v) => !v.srcObject || v.srcObject.getTracks().every((t) => t.readyState === 'ended'))"
    )
