"""The widget on someone else's page: isolated from its CSS, usable by keyboard, in the page's
language, honest about closed queues and about cameras it cannot use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from accounts import directory
from db import create_engine, create_session_factory
from tests.conftest import Backend, base_url
from tests.e2e.conftest import DESKTOP, HOSTILE_CSS, PHONE, HostSite, Visitor, world_for

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

FOCUSED = (
    "(root) => root.activeElement && (root.activeElement.dataset.part || root.activeElement.textContent)"
)
STYLE_OF = """(root, selector) => {
  const element = root.querySelector(selector);
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  return {fontSize: style.fontSize, color: style.color, display: style.display, opacity: style.opacity,
          visibility: style.visibility, width: box.width, height: box.height, right: box.right,
          bottom: box.bottom, outline: style.outlineStyle};
}"""


async def test_hostile_page_css_cannot_hide_shrink_or_restyle_the_widget(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    world = await world_for(backend, host_site)
    url = host_site.publish("hostile.html", loket=base_url(loket), key=world.widget_key, extra=HOSTILE_CSS)
    visitor = await open_visitor(url, viewport=DESKTOP, shots="hostile")
    page = visitor.page
    assert await page.locator("#content").is_hidden()  # the page's rules do apply to the page

    launcher = page.get_by_role("button", name="Video call")
    await launcher.wait_for()
    style = await visitor.widget(STYLE_OF, "[data-part=launcher]")
    assert style["fontSize"] == "16px" and style["opacity"] == "1" and style["visibility"] == "visible", style
    assert style["height"] == 56 and style["width"] > 120, style
    assert (style["right"], style["bottom"]) == (DESKTOP["width"] - 20, DESKTOP["height"] - 20), style
    assert style["color"] == "rgb(255, 255, 255)", style

    await launcher.click()
    heading = page.get_by_role("heading", name="Before you call", level=3)
    await page.get_by_role("button", name="Start video call").wait_for()
    title = await visitor.widget(STYLE_OF, "h3")
    assert title["fontSize"] == "20px" and title["display"] == "block", title
    start = await visitor.widget(STYLE_OF, ".btn.primary")
    assert start["color"] == "rgb(255, 255, 255)" and start["height"] >= 48, start
    await visitor.shot("01-open-on-hostile-page")

    await page.keyboard.press("Escape")
    await heading.wait_for(state="hidden")
    assert await visitor.widget(FOCUSED) == "launcher"
    assert visitor.errors == []


async def test_the_widget_is_usable_with_the_keyboard_alone(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    world = await world_for(backend, host_site)
    url = host_site.publish("dealer.html", loket=base_url(loket), key=world.widget_key)
    visitor = await open_visitor(url, viewport=PHONE, shots="keyboard")
    page = visitor.page
    await page.get_by_role("button", name="Video call").wait_for()

    await page.keyboard.press("Tab")
    assert await visitor.widget(FOCUSED) == "launcher"
    assert (await visitor.widget(STYLE_OF, "[data-part=launcher]"))["outline"] == "solid"  # visible focus
    await page.keyboard.press("Enter")
    await page.get_by_role("dialog", name="Video call with an adviser").wait_for()
    await page.get_by_role("button", name="Start video call").wait_for()
    assert await visitor.widget(FOCUSED) == "Before you call"

    # Tab order: language, then the start button (the queue is a single one: plain text).
    await page.keyboard.press("Tab")
    assert await visitor.widget("(root) => root.activeElement.tagName") == "SELECT"
    await page.keyboard.press("Tab")
    assert await visitor.widget(FOCUSED) == "Start video call"
    await visitor.shot("01-focus-on-start")
    await page.keyboard.press("Enter")
    await page.locator("[data-part=position]").wait_for()

    # Escape folds the panel away while waiting; the launcher says so and brings it back.
    await page.keyboard.press("Escape")
    assert await visitor.widget(FOCUSED) == "launcher"
    await page.get_by_role("button", name="In the queue").wait_for()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    assert await visitor.widget(FOCUSED) == "Leave the queue"
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="You left the queue").wait_for()
    await visitor.shot("02-left")
    assert visitor.errors == []


@pytest.mark.parametrize(
    ("lang", "data_lang", "launcher", "start"),
    [
        ("nl-NL", "", "Videobellen", "Videogesprek starten"),
        ("de", "", "Videoanruf", "Videoanruf starten"),
        ("en", "fr", "Appel vidéo", "Lancer l'appel vidéo"),
    ],
)
async def test_the_widget_speaks_the_language_of_the_page_or_of_its_data_lang(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    lang: str,
    data_lang: str,
    launcher: str,
    start: str,
) -> None:
    world = await world_for(backend, host_site, recording_policy="ask")
    url = host_site.publish(
        "page.html", loket=base_url(loket), key=world.widget_key, lang=lang, data_lang=data_lang
    )
    visitor = await open_visitor(url, viewport=DESKTOP, shots=f"lang-{data_lang or lang}")
    await visitor.page.get_by_role("button", name=launcher).click()
    await visitor.page.get_by_role("button", name=start).wait_for()
    # The consent text follows the chosen call language, which defaults to the page's.
    language = (data_lang or lang)[:2]
    consent = await visitor.page.locator("[data-part=consent] .text").get_attribute("lang")
    assert consent == language
    await visitor.shot("01-precall")


async def test_a_closed_queue_says_when_it_opens_and_a_wait_too_long_says_when_to_try_again(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    # Sales: open day and night but closed tomorrow (a holiday), and a one-second maximum wait.
    holiday = (datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(days=1)).date()
    nonstop = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    world = await world_for(
        backend, host_site, opening_hours=nonstop, closing_days=[holiday.isoformat()], max_wait_seconds=1
    )
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tomorrow.weekday()]
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await directory.create_queue(
                db,
                org_id=world.org_id,
                actor="test",
                name="Workshop",
                languages=["en"],
                opening_hours={day: [["09:00", "17:00"]]},
                timezone="UTC",
            )
            await db.commit()
    finally:
        await engine.dispose()
    url = host_site.publish("dealer.html", loket=base_url(loket), key=world.widget_key)
    visitor = await open_visitor(url, viewport=DESKTOP, shots="closed")
    page = visitor.page
    await page.get_by_role("button", name="Video call").click()
    topic = page.get_by_role("combobox", name="Topic")
    await topic.wait_for()
    assert await topic.locator("option").all_inner_texts() == ["Sales", "Workshop (closed)"]
    await topic.select_option(label="Workshop (closed)")
    notice = page.locator("[data-part=closed]")
    await notice.wait_for()
    weekday = tomorrow.strftime("%A")
    assert f"We are closed right now. We open {weekday}" in await notice.inner_text()
    assert "09:00" in await notice.inner_text()
    assert await page.get_by_role("button", name="Start video call").is_disabled()
    await visitor.shot("01-closed-queue")
    await topic.select_option(label="Sales")
    start = page.get_by_role("button", name="Start video call")
    assert await start.is_enabled()

    # Nobody answers within the maximum wait: the visitor is told when Sales opens again after
    # the holiday: midnight in Amsterdam, shown in the queue's time zone (Europe/Amsterdam, named
    # when the browser's is another) and the browser's language.
    await start.click()
    await page.get_by_role("heading", name="Nobody could take your call in time").wait_for()
    reason = await page.locator("[data-part=ended-reason]").inner_text()
    assert reason.startswith("Sorry for the wait. Please try again on "), reason
    retry = datetime.combine(holiday + timedelta(days=1), time(), tzinfo=ZoneInfo("Europe/Amsterdam"))
    shown = await page.evaluate(
        """(iso) => new Intl.DateTimeFormat("en-GB", {weekday: "long", day: "numeric", month: "long",
        hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam"}).format(new Date(iso))""",
        retry.isoformat(),
    )
    assert shown in reason and "00:00" in reason, (shown, reason)
    await visitor.shot("02-max-wait-try-again")


@pytest.mark.parametrize(
    ("error", "message", "can_start"),
    [
        ("NotAllowedError", "Your browser blocks the camera and microphone for this website.", True),
        ("NotFoundError", "We found no camera or microphone. You can still call", True),
    ],
)
async def test_a_camera_that_cannot_be_used_is_explained(
    loket: TestServer,
    host_site: HostSite,
    backend: Backend,
    open_visitor: Callable[..., Awaitable[Visitor]],
    error: str,
    message: str,
    can_start: bool,
) -> None:
    world = await world_for(backend, host_site)
    url = host_site.publish("dealer.html", loket=base_url(loket), key=world.widget_key)
    visitor = await open_visitor("about:blank", viewport=PHONE, shots=f"devices-{error}")
    page = visitor.page
    # What the browser answers when the visitor says no, or has no devices at all.
    await page.add_init_script(
        f"navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', '{error}'));"
    )
    await page.goto(url)
    await page.get_by_role("button", name="Video call").click()
    await page.get_by_role("alert").filter(has_text=message).wait_for()
    assert await page.get_by_role("button", name="Start video call").is_enabled() == can_start
    if error == "NotAllowedError":
        await page.get_by_role("button", name="Try again").wait_for()
    await visitor.shot("01-precall")


async def test_the_widget_adds_only_window_loket_and_one_element_to_the_page(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    world = await world_for(backend, host_site)
    url = host_site.publish("dealer.html", loket=base_url(loket), key=world.widget_key)
    visitor = await open_visitor("about:blank", viewport=DESKTOP, shots="globals")
    page = visitor.page
    await page.add_init_script("window.globalsBefore = Object.getOwnPropertyNames(window);")
    await page.goto(url)
    await page.get_by_role("button", name="Video call").click()
    await page.get_by_role("button", name="Start video call").wait_for()
    added = await page.evaluate(
        "() => Object.getOwnPropertyNames(window)"
        ".filter((name) => !window.globalsBefore.includes(name) && name !== 'globalsBefore')"
    )
    assert added == ["Loket"]
    assert await page.evaluate("() => Object.keys(window.Loket).sort()") == ["close", "on", "open"]
    assert await page.evaluate("() => [...document.body.children].map((e) => e.localName)") == [
        "header",
        "main",
        "script",
        "loket-widget",
    ]
    assert await page.evaluate("() => document.styleSheets.length") == 1  # the page's own
    assert await page.evaluate("() => getComputedStyle(document.querySelector('h1')).fontSize") == "34px"
    dialog = page.get_by_role("dialog", name="Video call with an adviser")
    await page.evaluate("() => window.Loket.close()")
    await dialog.wait_for(state="hidden")
    await page.evaluate("() => window.Loket.open()")
    await dialog.wait_for()


async def test_a_strict_content_security_policy_needs_only_loket_in_script_and_connect_src(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    world = await world_for(backend, host_site)
    url = base_url(loket)
    policy = (
        f"default-src 'none'; script-src {url}; connect-src {url} {url.replace('http', 'ws', 1)}; "
        "style-src 'none'"
    )
    extra = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    visitor = await open_visitor(
        host_site.publish("csp.html", loket=url, key=world.widget_key, extra=extra),
        viewport=DESKTOP,
        shots="csp",
    )
    page = visitor.page
    await page.get_by_role("button", name="Video call").click()
    await page.get_by_role("button", name="Start video call").wait_for()
    start = await visitor.widget(STYLE_OF, ".btn.primary")
    assert start["color"] == "rgb(255, 255, 255)" and start["height"] >= 48, start  # styled
    await page.get_by_role("button", name="Start video call").click()
    await page.locator("[data-part=position]").wait_for()  # REST and socket.io got through
    await visitor.shot("01-waiting-under-csp")
    assert not [line for line in visitor.console if "Content Security Policy" in line], visitor.console
