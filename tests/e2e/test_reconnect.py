"""The widget survives network drops: socket.io reconnects, resumes, replays what it missed,
and a call in progress goes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Backend, Client, base_url, connect_adviser
from tests.e2e.conftest import DESKTOP, HostSite, Visitor, eventually, world_for
from tests.e2e.test_visitor_journey import remote_frames
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


@pytest.mark.timeout(90)
async def test_a_visitor_who_drops_off_the_network_resumes_with_what_they_missed_and_keeps_the_call(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    adviser_peer: Peer,
    clients: list[Client],
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    visitor = await open_visitor(
        host_site.publish("dealer.html", loket=url, key=world.widget_key), viewport=DESKTOP, shots="reconnect"
    )
    page = visitor.page
    await page.wait_for_function("() => window.Loket !== undefined")
    await page.evaluate(
        "() => { window.accepted = 0; window.Loket.on('accepted', () => window.accepted++); }"
    )
    await page.get_by_role("button", name="Video call").click()
    await page.get_by_role("button", name="Start video call").click()
    position = page.locator("[data-part=position]")
    await position.wait_for()
    assert "as soon as possible" in await position.inner_text()

    await page.context.set_offline(True)
    await page.get_by_text("Connection lost. Reconnecting…").wait_for(timeout=20_000)
    await visitor.shot("01-offline")
    # While the visitor is away an adviser comes: the ETA they missed is replayed on resume.
    email, _ = await world.add_user(display_name="Sanne")
    adviser = await connect_adviser(url, email, clients, available=False)
    assert (await adviser.call("presence:set", {"status": "available"}))["ok"]
    await page.context.set_offline(False)
    await page.get_by_text("Expected wait: about 3 minutes.").wait_for(timeout=20_000)
    await page.get_by_text("Connection lost. Reconnecting…").wait_for(state="hidden")
    await visitor.shot("02-resumed")

    # The adviser was rung meanwhile; the call starts, then the visitor drops off again.
    ring = await adviser.wait_for("call:incoming", timeout=10)
    assert (await adviser.call("call:accept", {"call_id": ring["call_id"]}))["ok"]
    assert (await adviser_peer.offer_through(adviser))["ok"]
    await eventually(lambda: remote_frames(visitor), 20, "the adviser's video playing in the widget")
    await page.context.set_offline(True)
    await page.get_by_text("Connection lost. Reconnecting…").wait_for(timeout=20_000)
    await page.context.set_offline(False)
    await page.get_by_text("Connection lost. Reconnecting…").wait_for(state="hidden", timeout=20_000)
    before = await remote_frames(visitor)
    await eventually(
        lambda: _more(remote_frames(visitor), before + 10), 10, "the adviser's video going on after the drop"
    )
    await page.get_by_role("button", name="End call").wait_for()
    await visitor.shot("03-call-after-drop")
    assert await page.evaluate("() => window.accepted") == 1
    assert visitor.errors == [], visitor.errors


async def _more(frames: Awaitable[int], than: int) -> bool:
    return await frames > than
