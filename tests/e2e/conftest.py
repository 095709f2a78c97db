"""Real Chromium (Debian's, never a downloaded one) against a real Loket.

Loket listens on this machine's non-loopback IPv4 address: aiortc gathers no loopback
candidates, so WebRTC between Chromium and the server needs a real interface. The host page
that embeds the widget is served by a second small server on 127.0.0.1, another origin
(and a secure context, so the page may use the camera over plain http).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from accounts import directory
from db import create_engine, create_session_factory
from loket.app import create_app
from media.synthetic import FrameCounter, SyntheticAudioTrack, SyntheticVideoTrack
from tests.conftest import PASSWORD, Backend, World, artifacts_dir, base_url, make_world, service_missing
from tests.signaling.conftest import Peer

CHROMIUM = Path("/usr/bin/chromium")
WIDGET_JS = Path(__file__).resolve().parents[2] / "widget" / "dist" / "widget.js"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}

# The host page: a dealer's website with exactly the embed snippet (README: "Embedding").
PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Garage Test</title>
<style>
body {{ margin: 0; font-family: Georgia, serif; background: #f5f1ea; color: #2b2118; }}
header {{ background: #2b2118; color: #f5f1ea; padding: 18px 24px; font-size: 22px; }}
main {{ padding: 24px; max-width: 720px; }}
h1 {{ font-size: 34px; margin: 0 0 12px; }}
</style>
{extra}
</head>
<body>
<header>Garage Test &middot; Occasions &middot; Service &middot; Contact</header>
<main id="content">
<h1>Your next car, explained face to face</h1>
<p>Ask one of our advisers anything about the cars in our showroom: press the button and talk
to us on video, right from this page.</p>
</main>
<script src="{loket}/widget.js" data-key="{key}"{attrs} async></script>
</body>
</html>
"""

# Everything a careless or hostile page might do to elements it does not own.
HOSTILE_CSS = """<style>
html, body { font-size: 2px !important; line-height: 0 !important; color: red !important;
  letter-spacing: 9px !important; font-family: "Comic Sans MS", cursive !important;
  visibility: hidden !important; --brand: red !important; cursor: none !important; }
body * { display: none !important; font-size: 2px !important; opacity: 0.05 !important;
  transform: scale(0.1) !important; pointer-events: none !important; }
button, div, section, video, select, input, h2, h3, p, span, svg { all: unset !important;
  display: none !important; }
loket-widget { display: none !important; position: absolute !important; width: 1px !important;
  height: 1px !important; overflow: hidden !important; clip: rect(0 0 0 0) !important; }
</style>"""


def non_loopback_ipv4() -> str | None:
    """The address this machine uses to reach the outside (no packet is sent)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 9))
        address: str = probe.getsockname()[0]
        if not address.startswith("127."):
            return address
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        output = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
        for candidate in output.split():
            if "." in candidate and not candidate.startswith("127."):
                return candidate
    return None


def require_browser_and_widget() -> None:
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if not WIDGET_JS.exists():
        service_missing("widget/dist/widget.js is not built (make widget)")


@pytest.fixture
def lan_ip() -> str:
    address = non_loopback_ipv4()
    if address is None:
        service_missing("this machine has no non-loopback IPv4 address for WebRTC")
    assert address is not None
    return address


@pytest.fixture
async def loket(backend: Backend, lan_ip: str, request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    """The whole app (embedded backend, in-process media) on the non-loopback address; more
    settings with ``@pytest.mark.server_settings(...)``."""
    require_browser_and_widget()
    marker = request.node.get_closest_marker("server_settings")
    overrides = marker.kwargs if marker is not None else {}
    app = create_app(backend.settings(allow_private_candidates=True, **overrides), run_worker=False)
    server = TestServer(app, host=lan_ip)
    await server.start_server()
    yield server
    await server.close()


@dataclass
class HostSite:
    """The customer's website: another origin, embedding the widget with its key."""

    server: TestServer
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return base_url(self.server)

    def url(self, name: str = "") -> str:
        return f"{self.origin}/{name}"

    def publish(
        self, name: str, *, loket: str, key: str, lang: str = "en", extra: str = "", data_lang: str = ""
    ) -> str:
        attrs = f' data-lang="{data_lang}"' if data_lang else ""
        self.pages[name] = PAGE.format(loket=loket, key=key, lang=lang, extra=extra, attrs=attrs)
        return self.url(name)


@pytest.fixture
async def host_site() -> AsyncIterator[HostSite]:
    pages: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        body = pages.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name:.*}", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield HostSite(server, pages)
    await server.close()


async def world_for(backend: Backend, site: HostSite, **queue: Any) -> World:
    """An organisation with one queue whose widget key allows the host site's origin."""
    world = await make_world(backend, languages=["nl", "de", "fr", "en"], **queue)
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            key = await directory.create_widget_key(
                db, org_id=world.org_id, origins=[site.origin], actor="test"
            )
            await db.commit()
    finally:
        await engine.dispose()
    world.widget_key, world.origin = key.key, site.origin
    return world


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_browser_and_widget()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Visitor:
    """A browser tab on the host page, with what its console said."""

    page: Page
    shots: Path
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(self.shots / f"{name}.png"))

    async def widget(self, script: str, arg: Any = None) -> Any:
        """Evaluate ``script`` (a function of the widget's shadow root and ``arg``) in the page."""
        return await self.page.evaluate(
            f"([arg]) => ({script})(document.querySelector('loket-widget').shadowRoot, arg)", [arg]
        )


@pytest.fixture
async def open_visitor(browser: Browser) -> AsyncIterator[Callable[..., Awaitable[Visitor]]]:
    contexts = []

    async def open_page(url: str, *, viewport: dict[str, int], shots: str) -> Visitor:
        # English, whatever the machine's locale: the staff consoles follow the browser's language.
        context = await browser.new_context(viewport=viewport, locale="en-US")  # type: ignore[arg-type]
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        directory_ = artifacts_dir() / "e2e" / shots
        directory_.mkdir(parents=True, exist_ok=True)
        visitor = Visitor(page, directory_)
        page.on("console", lambda message: visitor.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: visitor.errors.append(str(error)))
        await page.goto(url)
        return visitor

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
async def adviser_peer() -> AsyncIterator[Peer]:
    """The adviser's browser stand-in: aiortc sending synthetic video, counting what arrives."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(SyntheticAudioTrack())
    pc.addTrack(SyntheticVideoTrack(fps=20))
    peer = Peer(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        counter = FrameCounter(track)
        counter.start()
        peer.received[track.kind] = counter

    yield peer
    for counter in peer.received.values():
        await counter.stop()
    await pc.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.2)


# -- a visitor (the widget) and an adviser (the console) in a call, in real Chromium pages ---------------

# Every RTCPeerConnection a page makes is kept, so the test can read its inbound stats.
KEEP_PEER_CONNECTIONS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();"""
# videoWidth of the remote <video> (in the widget's shadow root or the console page) and the
# frames decoded by the page's inbound video RTP streams (W3C webrtc-stats, RTCInboundRtpStreamStats).
REMOTE_VIDEO = """async () => {
  const host = document.querySelector('loket-widget');
  const root = host ? host.shadowRoot : document;
  const video = root.querySelector('[data-part=remote-video]');
  let decoded = 0;
  for (const pc of window.__pcs || []) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') decoded += s.framesDecoded || 0;
    });
  }
  return {width: video ? video.videoWidth : 0, paused: video ? video.paused : true, decoded};
}"""
Shot = Callable[[Page, str], Awaitable[None]]
# Milliseconds for an expectation in a call: two or three browsers and the media share a machine
# that may be loaded (Playwright's own default is 5 s).
EXPECT_MS = 15_000


@pytest.fixture
def console_flags(loket: TestServer) -> list[str]:
    """Chromium's flags for a call: Loket's plain-http LAN origin treated as secure, as it would be
    over HTTPS in production, so the console may open the camera (W3C Secure Contexts §3.1). The
    visitor's host page is on 127.0.0.1, which is potentially trustworthy anyway."""
    return [*CHROMIUM_FLAGS, f"--unsafely-treat-insecure-origin-as-secure={base_url(loket)}"]


@pytest.fixture
def page_scripts() -> list[str]:
    """Scripts every page of ``contexts`` runs first; a module may add its own."""
    return [KEEP_PEER_CONNECTIONS]


@pytest.fixture
async def call_browser(console_flags: list[str]) -> AsyncIterator[Browser]:
    require_browser_and_widget()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=console_flags)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def contexts(
    call_browser: Browser, page_scripts: list[str]
) -> AsyncIterator[Callable[..., Awaitable[BrowserContext]]]:
    """Browser contexts of ``call_browser`` (one per party) whose pages run ``page_scripts``."""
    made: list[BrowserContext] = []

    async def make(viewport: dict[str, int]) -> BrowserContext:
        # English, whatever the machine's locale: the staff consoles follow the browser's language.
        context = await call_browser.new_context(viewport=viewport, locale="en-US")  # type: ignore[arg-type]
        for script in page_scripts:
            await context.add_init_script(script)
        made.append(context)
        return context

    yield make
    for context in made:
        await context.close()


async def new_party_page(
    context: BrowserContext, who: str, errors: list[str], timeout_ms: int = 15_000
) -> Page:
    """A page of ``context`` whose uncaught errors land in ``errors``, prefixed with ``who``."""
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("pageerror", lambda error: errors.append(f"{who}: {error}"))
    return page


async def visitor_waits(
    visitor: Page, page_url: str, *, consent: bool = False, shot: Shot | None = None
) -> None:
    """The visitor on the host page opens the widget, consents to recording if ``consent``, starts a
    video call and waits in the queue."""
    await visitor.goto(page_url)
    await visitor.get_by_role("button", name="Video call").click()
    if consent:
        await visitor.get_by_role("checkbox", name="I agree that this call may be recorded").check()
    if shot:
        await shot(visitor, "01-visitor-precall")
    await visitor.get_by_role("button", name="Start video call").click()
    await visitor.locator("[data-part=position]").wait_for()
    if shot:
        await shot(visitor, "02-visitor-waiting")


async def adviser_logs_in(
    console: Page, url: str, email: str, *, available: bool = True, shot: Shot | None = None
) -> None:
    """The adviser logs in to the console, is online, and (if ``available``) available for calls."""
    await console.goto(f"{url}/console/")
    await console.get_by_label("E-mail address").fill(email)
    await console.get_by_label("Password").fill(PASSWORD)
    if shot:
        await shot(console, "03-console-login")
    await console.get_by_role("button", name="Log in").click()
    presence = console.get_by_role("switch", name="Available for calls")
    await expect(presence).to_have_attribute("aria-checked", "false", timeout=EXPECT_MS)
    await expect(console.locator(".conn")).to_have_text("Online", timeout=EXPECT_MS)
    if available:
        await presence.click()
        await expect(presence).to_have_attribute("aria-checked", "true", timeout=EXPECT_MS)


@dataclass(frozen=True, slots=True)
class Adviser:
    """Who answers in the console: their login and the name the visitor is shown."""

    email: str
    display_name: str


async def in_a_call(
    visitor: Page,
    console: Page,
    *,
    url: str,
    page_url: str,
    adviser: Adviser,
    consent: bool = False,
    playing: bool = True,
) -> None:
    """The visitor calls from the host page (``page_url``), the adviser logs in to Loket's console
    (``url``) and accepts the ring; both pages show the call and, if ``playing``, each plays the
    other's video."""
    await visitor_waits(visitor, page_url, consent=consent)
    await adviser_logs_in(console, url, adviser.email)
    await (
        console.get_by_role("alertdialog", name="Incoming call").get_by_role("button", name="Accept").click()
    )
    await console.locator("[data-part=call]").wait_for()
    await visitor.locator("p.who", has_text=f"In a call with {adviser.display_name}").wait_for()
    if playing:
        await plays(visitor, "visitor")
        await plays(console, "adviser")


async def video_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(REMOTE_VIDEO)
    return state


async def plays(page: Page, who: str) -> None:
    """The remote video has a picture and its decoded frames keep rising."""

    async def has_picture() -> bool:
        state = await video_state(page)
        return bool(state["width"] > 0 and state["decoded"] > 0)

    try:
        await eventually(has_picture, 20, f"the remote video playing for the {who}")
    except AssertionError:
        pcs = await page.evaluate(
            "() => (window.__pcs || []).map((pc) => [pc.connectionState, pc.signalingState])"
        )
        raise AssertionError(
            f"no remote video for the {who}: {await video_state(page)}, connections {pcs}"
        ) from None
    before = (await video_state(page))["decoded"]
    await page.wait_for_timeout(1500)
    after = await video_state(page)
    assert after["decoded"] > before + 5, f"the {who}'s remote video is not advancing: {before} → {after}"
    assert not after["paused"], after
