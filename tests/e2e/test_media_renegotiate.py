"""A call outlives its media node, in two real browsers: a visitor (the widget) and an adviser
(the console) in a call whose media runs on a ``loket media`` node; that node is SIGKILLed
mid-call. Its heartbeat lapses, signalling places the call on the other node and tells both
pages ``media:renegotiate``; each page makes a new RTCPeerConnection by itself and offers from
it, and the adviser's video plays in the widget again (and the visitor's in the console).

Real processes (``tests.integration.deployment``): one ``loket serve --no-media`` and two
``loket media`` nodes on PostgreSQL and Redis. Screenshots land in
``$LOKET_ARTIFACTS/e2e/media-renegotiate/``; the recovery times are printed (``pytest -s``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from media.node import Registry
from tests.conftest import artifacts_dir
from tests.e2e.conftest import (
    DESKTOP,
    KEEP_PEER_CONNECTIONS,
    Adviser,
    HostSite,
    eventually,
    in_a_call,
    video_state,
    world_for,
)
from tests.integration.deployment import Deploy, deploy  # noqa: F401 (fixture)
from tests.media.nodes import media_cluster  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CONNECTIONS = """() => (window.__pcs || []).map((pc) => pc.connectionState)"""
# When the page received ``media:renegotiate`` on its socket.io WebSocket, and when it made each
# RTCPeerConnection (Date.now() ms): the page must act on the event, not only on ICE noticing
# the dead node (which it would by itself only after "disconnected" plus a 3 s grace).
WATCH = """(() => {
  const Socket = window.WebSocket;
  window.__renegotiateAt = [];
  window.WebSocket = function (...args) {
    const ws = new Socket(...args);
    ws.addEventListener('message', (event) => {
      if (typeof event.data === 'string' && event.data.includes('"media:renegotiate"')) {
        window.__renegotiateAt.push(Date.now());
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const Connection = window.RTCPeerConnection;
  window.__pcCreatedAt = [];
  window.RTCPeerConnection = function (...args) {
    window.__pcCreatedAt.push(Date.now());
    return new Connection(...args);
  };
  window.RTCPeerConnection.prototype = Connection.prototype;
})();"""
TIMES = "() => ({told: window.__renegotiateAt, made: window.__pcCreatedAt})"


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[[], Awaitable[Page]]]:
    made: list[BrowserContext] = []

    async def make() -> Page:
        context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        await context.add_init_script(KEEP_PEER_CONNECTIONS)
        await context.add_init_script(WATCH)
        made.append(context)
        page = await context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in made:
        await context.close()


async def decoding(page: Page, who: str, seconds: float) -> float:
    """Wait until the page's remote video has a picture and its open connections have decoded
    more than 10 frames, then check it keeps decoding; when it was decoding
    (``time.monotonic()``, before the check)."""

    async def rising() -> bool:
        state = await video_state(page)
        return bool(state["width"] > 0 and state["decoded"] > 10)

    await eventually(rising, seconds, f"the remote video decoding in the {who}'s page")
    began = time.monotonic()
    before = (await video_state(page))["decoded"]
    await page.wait_for_timeout(1500)
    now = await video_state(page)
    assert now["decoded"] > before + 5 and not now["paused"], f"the {who}'s video stalls: {before} → {now}"
    return began


@pytest.mark.timeout(240)
async def test_a_visitor_whose_media_node_dies_renegotiates_by_itself_and_the_advisers_video_plays_on(
    deploy: Deploy,  # noqa: F811 (the fixture imported above)
    host_site: HostSite,
    new_page: Callable[[], Awaitable[Page]],
) -> None:
    deployment = await deploy(2)
    url = deployment.url
    world = await world_for(deployment.world.backend, host_site)
    email, _ = await world.add_user(display_name="Sanne")
    shots = artifacts_dir() / "e2e" / "media-renegotiate"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    visitor, console = await new_page(), await new_page()
    visitor.on("pageerror", lambda error: errors.append(f"visitor: {error}"))
    console.on("pageerror", lambda error: errors.append(f"console: {error}"))
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    await in_a_call(
        visitor, console, url=url, page_url=page_url, adviser=Adviser(email, "Sanne"), playing=False
    )

    await decoding(visitor, "visitor", 40)
    await decoding(console, "adviser", 40)
    assert await visitor.evaluate(CONNECTIONS) == ["connected"]

    registry = Registry(deployment.cluster)
    await registry.start()
    try:
        holding = [n.node_id for n in await registry.nodes() if await registry.calls_of(n.node_id)]
        assert len(holding) == 1, holding
        killed = holding[0]
        (call_id,) = await registry.calls_of(killed)
        killed_at = time.monotonic()
        deployment.media[killed].kill()

        async def new_connection_up(page: Page) -> bool:
            states = await page.evaluate(CONNECTIONS)
            return len(states) >= 2 and states[-1] == "connected"

        await eventually(
            lambda: new_connection_up(visitor), 30, "the widget connected from a new RTCPeerConnection"
        )
        reconnected = time.monotonic() - killed_at
        # Only open connections count (video_state): these frames are the new connection's.
        video_back = await decoding(visitor, "visitor", 30) - killed_at
        await eventually(
            lambda: new_connection_up(console), 30, "the console connected from a new RTCPeerConnection"
        )
        await decoding(console, "adviser", 30)
        moved_to = await registry.owner(call_id)
    finally:
        await registry.stop()
    await visitor.screenshot(path=str(shots / "visitor-after-failover.png"))
    await console.screenshot(path=str(shots / "console-after-failover.png"))
    print(
        f"\nmedia node {killed} killed: the widget's new connection was up after {reconnected:.1f} s, "
        f"the adviser's video decoding in it again after {video_back:.1f} s (call now on {moved_to})"
    )

    # The same call, on the other node; each page was told once and made its new connection
    # at once on being told.
    assert moved_to in deployment.media and moved_to != killed
    for who, page in (("visitor", visitor), ("adviser", console)):
        times = await page.evaluate(TIMES)
        assert len(times["told"]) == 1 and len(times["made"]) >= 2, (who, times)
        assert 0 <= times["made"][1] - times["told"][0] < 1000, (who, times)
    # The widget replaced its connection, the old one closed.
    states = await visitor.evaluate(CONNECTIONS)
    assert states[0] == "closed" and states[-1] == "connected", states
    await visitor.get_by_role("button", name="End call").wait_for()
    await expect(console.locator("[data-part=call]")).to_have_count(1)
    assert errors == [], errors
