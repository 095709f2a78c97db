"""A call outlives a party's network, in two real browsers: the server drops the visitor's
(or the adviser's) media path mid-call; the widget (or the console) notices by itself and
offers from a new RTCPeerConnection on the same socket; the server answers with a fresh leg,
and both videos play again. The other page's connection is never renegotiated.

Screenshots land in ``$LOKET_ARTIFACTS/e2e/network-change/``; the recovery times are printed
(``pytest -s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from api.keys import SWITCHBOARD
from media import Leg, MediaCall, Party
from tests.conftest import Backend, artifacts_dir, base_url
from tests.e2e.conftest import (
    DESKTOP,
    Adviser,
    HostSite,
    eventually,
    in_a_call,
    new_party_page,
    video_state,
    world_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

# The peer connections a page made, oldest first (KEEP_PEER_CONNECTIONS keeps them all).
CONNECTIONS = """() => (window.__pcs || []).map((pc) => ({
  connection: pc.connectionState, signaling: pc.signalingState,
  remote: pc.remoteDescription ? pc.remoteDescription.sdp : null}))"""

# When the page's first connection went "disconnected" (W3C webrtc-pc §4.3.3), in Date.now() ms.
NOTE_STATES = """() => { const pc = window.__pcs[0];
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'disconnected' && !window.__disconnectedAt) {
      window.__disconnectedAt = Date.now();
    }
  }); }"""


def the_call(loket: TestServer) -> MediaCall:
    """The one call the app's in-process media relays (a test may reach it)."""
    placement = loket.app[SWITCHBOARD]._media
    calls = list(placement._calls.values())
    assert len(calls) == 1, f"expected one call in the placement, found {len(calls)}"
    call: MediaCall = calls[0]
    return call


async def drop_media_path(leg: Leg) -> None:
    """Close the aioice connection under a server leg: its sockets close, nothing more is sent
    or answered, and aiortc's ICE transport fails, as on consent expiry (a test may reach it)."""
    await leg._pc.getTransceivers()[0].receiver.transport.transport._connection.close()


async def decoded_rises(page: Page, who: str, seconds: float) -> float:
    """Wait until the page's remote video decodes frames again and keeps on; when it began."""
    start = (await video_state(page))["decoded"]

    async def rising() -> bool:
        return bool((await video_state(page))["decoded"] > start + 5)

    await eventually(rising, seconds, f"the {who}'s remote video decoding again")
    began = time.monotonic()
    before = (await video_state(page))["decoded"]
    await page.wait_for_timeout(1500)
    after = await video_state(page)
    assert after["decoded"] > before + 5, f"the {who}'s video stalls again: {before} → {after}"
    assert after["width"] > 0 and not after["paused"], after
    return began


@pytest.mark.timeout(180)
@pytest.mark.parametrize("party", ["visitor", "adviser"])
async def test_a_party_whose_media_path_is_lost_recovers_the_call_by_itself(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    contexts: Callable[..., Awaitable[BrowserContext]],
    party: Party,
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    email, _ = await world.add_user(display_name="Sanne")
    shots = artifacts_dir() / "e2e" / f"network-change-{party}"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    visitor = await new_party_page(await contexts(DESKTOP), "visitor", errors, timeout_ms=20_000)
    console = await new_party_page(await contexts(DESKTOP), "console", errors, timeout_ms=20_000)
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    await in_a_call(
        visitor, console, url=url, page_url=page_url, adviser=Adviser(email, "Sanne"), playing=False
    )

    async def playing(page: Page) -> bool:
        state = await video_state(page)
        return bool(state["width"] > 0 and state["decoded"] > 10)

    await eventually(lambda: playing(visitor), 30, "the adviser's video playing in the widget")
    await eventually(lambda: playing(console), 30, "the visitor's video playing in the console")
    call = the_call(loket)
    other: Party = "adviser" if party == "visitor" else "visitor"
    pages: dict[Party, Page] = {"visitor": visitor, "adviser": console}
    lost, kept = pages[party], pages[other]
    old_leg, other_leg = call.leg(party), call.leg(other)
    kept_before = await kept.evaluate(CONNECTIONS)
    assert len(kept_before) == 1 and len(await lost.evaluate(CONNECTIONS)) == 1

    # The server drops the party's media path (its ICE connection closes, as when consent
    # expires, RFC 7675 §5.1). Nothing is said over signalling: the page must notice.
    await lost.evaluate(NOTE_STATES)
    dropped = time.monotonic()
    dropped_ms = await lost.evaluate("() => Date.now()")
    await drop_media_path(old_leg)
    kept_states: list[str] = []

    async def watch_kept() -> None:
        while True:
            kept_states.extend(c["connection"] for c in await kept.evaluate(CONNECTIONS))
            await asyncio.sleep(0.5)

    watch = asyncio.get_running_loop().create_task(watch_kept())
    try:
        offered: list[float] = []

        async def replaced() -> bool:
            pcs = await lost.evaluate(CONNECTIONS)
            if len(pcs) >= 2 and not offered:
                offered.append(time.monotonic())
            return len(pcs) >= 2 and pcs[-1]["connection"] == "connected"

        await eventually(replaced, 60, f"the {party}'s page connected again from a new RTCPeerConnection")
        reconnected = time.monotonic()
        lost_back, kept_back = await asyncio.gather(
            decoded_rises(lost, party, 30), decoded_rises(kept, other, 30)
        )
        await visitor.screenshot(path=str(shots / "visitor-after-recovery.png"))
        await console.screenshot(path=str(shots / "console-after-recovery.png"))
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    noticed = await lost.evaluate("() => window.__disconnectedAt") - dropped_ms
    print(
        f"\n{party}'s network change: its page saw the connection disconnected {noticed / 1000:.1f} s "
        f"after the drop, made a new one after {offered[0] - dropped:.1f} s (polled every 0.2 s), "
        f"had it connected after {reconnected - dropped:.1f} s; video back at the {party} after "
        f"{lost_back - dropped:.1f} s, at the {other} after {kept_back - dropped:.1f} s"
    )

    # The page replaced its connection: the old one closed, the new one carries the call.
    pcs = await lost.evaluate(CONNECTIONS)
    assert [pc["connection"] for pc in pcs] == ["closed", "connected"], pcs
    assert call.leg(party) is not old_leg and call.replacements[party] == 1
    assert not call.closed
    # The other page's connection was never touched: one, connected throughout, the same
    # descriptions (never renegotiated), and its server leg the same.
    assert await kept.evaluate(CONNECTIONS) == kept_before
    assert kept_states and set(kept_states) == {"connected"}, kept_states
    assert call.leg(other) is other_leg and other_leg.connection_state == "connected"
    assert call.replacements[other] == 0
    # Both still in the call.
    await visitor.get_by_role("button", name="End call").wait_for()
    await expect(console.locator("[data-part=call]")).to_have_count(1)
    assert errors == [], errors
