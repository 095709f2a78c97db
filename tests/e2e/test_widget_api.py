"""The widget's JavaScript API for the host page (issue 13, item 9): the events ``ready``,
``open``, ``close``, ``queued``, ``accepted``, ``ended`` in real Chromium, none carrying the
reference, the privacy key or anything of the visitor; and ``dist/loket.d.ts`` types a host
page's code (a mistake in it fails tsc)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Backend, Client, base_url, connect_adviser
from tests.e2e.conftest import DESKTOP, HostSite, Visitor, world_for

pytestmark = [pytest.mark.e2e]

WIDGET = Path(__file__).resolve().parents[2] / "widget"
TYPES = WIDGET / "dist" / "loket.d.ts"
# Registered before widget.js runs: the window event, then every public event once it exists.
RECORD_EVENTS = """
window.loketEvents = [];
window.addEventListener('loket:ready', (event) => {
  window.loketEvents.push(['window:loket:ready', typeof event.detail.open]);
  for (const name of ['ready', 'open', 'close', 'queued', 'accepted', 'transferred', 'ended'])
    window.Loket.on(name, (data) => window.loketEvents.push([name, data]));
});
"""

HOST_PAGE_TS = """
/// <reference path="{types}" />
const unfollow: () => void = window.Loket!.on("queued", ({ position, eta_seconds }) => {
  const shown: string = eta_seconds === null ? `#${position}` : `#${position}, ${eta_seconds} s`;
  console.log(shown);
});
window.Loket?.on("ended", ({ reason }) => console.log(reason.toUpperCase()));
window.Loket?.on("accepted", () => unfollow());
window.Loket?.open({ context: { vehicle: "VW Golf 2019", quote: "Q-2291" } });
window.addEventListener("loket:ready", (event) => event.detail.close());
"""
MISTAKES_TS = """
/// <reference path="{types}" />
window.Loket?.on("ended", (data) => console.log(data.reference));
window.Loket?.on("finished", () => undefined);
window.Loket?.open({ context: { vehicle: 2019 } });
"""


def tsc(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "page.ts"
    file.write_text(source.replace("{types}", str(TYPES)))
    command = [str(WIDGET / "node_modules" / ".bin" / "tsc"), "--ignoreConfig", "--noEmit", "--strict"]
    command += ["--target", "ES2020", "--lib", "ES2020,DOM", str(file)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_loket_d_ts_types_a_host_pages_code_and_catches_its_mistakes(tmp_path: Path) -> None:
    if not TYPES.exists():
        pytest.skip("widget/dist/loket.d.ts is not built (make widget)")
    good = tsc(HOST_PAGE_TS, tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tsc(MISTAKES_TS, tmp_path)
    assert bad.returncode != 0
    assert "'reference' does not exist" in bad.stdout, bad.stdout
    assert '"finished"' in bad.stdout and "number" in bad.stdout, bad.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_page_hears_each_step_of_a_call_and_nothing_about_the_visitor(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    clients: list[Client],
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    page_url = host_site.publish("dealer.html", loket=url, key=world.widget_key)
    visitor = await open_visitor("about:blank", viewport=DESKTOP, shots="widget-api")
    page = visitor.page
    await page.add_init_script(RECORD_EVENTS)
    await page.goto(page_url)
    await page.wait_for_function("() => window.loketEvents.some(([name]) => name === 'ready')")
    # A listener added after the widget was ready still hears ``ready``.
    assert (
        await page.evaluate(
            "() => new Promise((resolve) => window.Loket.on('ready', (data) => resolve(data)))"
        )
        == {}
    )

    await page.get_by_role("button", name="Video call").click()
    await page.get_by_role("button", name="Start video call").click()
    await page.locator("[data-part=position]").wait_for()
    await page.get_by_role("button", name="Close").click()
    email, _ = await world.add_user(display_name="Sanne")
    adviser = await connect_adviser(url, email, clients)
    ring = await adviser.wait_for("call:incoming", timeout=10)
    assert (await adviser.call("call:accept", {"call_id": ring["call_id"]}))["ok"]
    await page.locator("p.who", has_text="In a call with Sanne").wait_for()
    ended = await adviser.call("call:end")
    assert ended["ok"], ended
    await page.wait_for_function("() => window.loketEvents.some(([name]) => name === 'ended')")
    # What the host page heard, printed on the page for the screenshot.
    await page.evaluate(
        """() => { const pre = document.createElement('pre'); pre.id = 'heard';
        pre.textContent = 'Loket.on heard:\\n' + window.loketEvents.map((e) => JSON.stringify(e)).join('\\n');
        document.querySelector('main').append(pre); }"""
    )
    await visitor.shot("01-events-heard-by-the-page")

    events = await page.evaluate("() => window.loketEvents")
    names = [name for name, _ in events]
    assert names[:3] == ["window:loket:ready", "ready", "open"], names
    queued = [data for name, data in events if name == "queued"]
    assert queued and queued[0] == {"position": 1, "eta_seconds": None}, queued
    assert names.index("queued") < names.index("close") < names.index("accepted") < names.index("ended")
    assert ["accepted", {}] in events
    assert events[-1] == ["ended", {"reason": "adviser_ended"}]
    # Nothing of the visitor or the call reaches the host page.
    everything = json.dumps(events)
    for secret in (ended["reference"], ring["call_id"], world.widget_key, "privacy"):
        assert secret not in everything, secret
    assert visitor.errors == [], visitor.errors
