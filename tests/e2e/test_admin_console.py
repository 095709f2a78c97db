"""The admin console (/admin/) in real Chromium: an admin logs in, changes a retention rule that
persists, creates a widget key whose snippet is exactly the one to paste, plays a stored
recording through its short-lived link (audited), and reads the statistics; a DPO turns the
transcript redaction switch and puts a transcript on legal hold (both audited); a supervisor sees
only their part."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from tests.api.recording_fixtures import stored_recording, write_test_webm
from tests.api.test_admin_api import StaffApi
from tests.api.two_factor_fixtures import enrolled
from tests.conftest import PASSWORD, Backend, World, base_url, make_world
from tests.e2e.conftest import DESKTOP, Visitor, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

VIDEO_STATE = """() => {
  const video = document.querySelector('.player video');
  return video && {ready: video.readyState, width: video.videoWidth, time: video.currentTime,
                   error: video.error && video.error.code};
}"""

CLIPBOARD_STAND_IN = """() => {
  window.copied = [];
  Object.defineProperty(navigator, 'clipboard', {configurable: true, value: {
    writeText: (text) => { window.copied.push(text); return Promise.resolve(); }}});
}"""


async def log_in(page: Page, email: str, recovery_code: str | None = None) -> None:
    """Log in; admins and DPOs have two-factor authentication (``enrolled``) and use a recovery
    code when the console asks for the authenticator code."""
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    if recovery_code is not None:
        await page.get_by_label("Authenticator code").fill(recovery_code)
        await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("button", name="Log out").wait_for()


async def open_section(page: Page, name: str) -> None:
    await page.get_by_role("navigation", name="Sections").get_by_role("link", name=name).click()
    await page.get_by_role("heading", name=name, level=2).wait_for()


async def api_as(url: str, email: str, recovery_code: str) -> StaffApi:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD, "totp": recovery_code}
        ) as response,
    ):
        tokens = await response.json()
        assert response.status == 200, tokens
    return StaffApi(url, tokens["access_token"], uuid.uuid4(), email)


async def rules(api: StaffApi) -> list[dict[str, Any]]:
    answer = await api.get("/retention-rules")
    assert answer.status == 200, answer.body
    found: list[dict[str, Any]] = answer.body
    return found


@pytest.mark.timeout(150)
async def test_an_admin_changes_retention_creates_a_widget_key_plays_a_recording_and_sees_statistics(
    loket: TestServer,
    backend: Backend,
    tmp_path: Path,
    open_visitor: Callable[..., Awaitable[Visitor]],
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, codes = await enrolled(url, world, "admin", display_name="Anna Admin")
    recording = await stored_recording(
        backend,
        world,
        write_test_webm(tmp_path / "media.webm", seconds=2),
        waited_seconds=42,
        duration_seconds=2,
    )
    api = await api_as(url, email, codes.pop())

    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    page = admin.page
    await page.get_by_role("heading", name="Loket").wait_for()
    await admin.shot("01-login")
    await log_in(page, email, codes.pop())
    await page.get_by_role("heading", name="Queues", level=2).wait_for()
    await page.get_by_role("cell", name="Sales", exact=True).wait_for()
    await admin.shot("02-queues")

    # -- retention: add an organisation-wide rule, then change its days -------------------------
    await open_section(page, "Retention rules")
    await page.get_by_text("No rules: everything follows the built-in defaults").wait_for()
    form = page.get_by_role("form", name="New retention rule")
    await form.get_by_label("Data").select_option("recordings")
    await form.get_by_label("Days to keep").fill("30")
    await form.get_by_role("button", name="Add rule").click()
    await page.get_by_text("Recordings now kept for 30 days.").wait_for()
    days = page.get_by_label("Days to keep: Recordings, Whole organisation")
    await days.fill("45")
    await page.get_by_role("button", name="Save days: Recordings, Whole organisation").click()
    await page.get_by_text("Recordings, Whole organisation: kept for 45 days.").wait_for()
    await admin.shot("03-retention-changed")
    assert [(r["kind"], r["queue_id"], r["days"]) for r in await rules(api)] == [("recordings", None, 45)]
    await page.reload()  # the session survives a reload (this tab's refresh token) ...
    await open_section(page, "Retention rules")
    await eventually(
        lambda: _value(page, "Days to keep: Recordings, Whole organisation", "45"), 10, "45 days after reload"
    )
    await admin.shot("04-retention-after-reload")

    # -- widget key: the snippet shown (and copied) is exactly the tag to paste ---------------------
    await open_section(page, "Widget keys")
    key_form = page.get_by_role("form", name="New widget key")
    await key_form.get_by_label("Allowed origins").fill(
        "https://www.garage-test.example\nhttps://shop.garage-test.example/"
    )
    await key_form.get_by_role("button", name="Create widget key").click()
    await page.get_by_text("created: copy its snippet below").wait_for()
    keys = (await api.get("/widget-keys")).body
    created = next(k for k in keys if "https://www.garage-test.example" in k["origins"])
    assert created["origins"] == ["https://www.garage-test.example", "https://shop.garage-test.example"]
    expected = f'<script src="{url}/widget.js" data-key="{created["key"]}" async></script>'
    card = page.locator(f'article[data-key="{created["key"]}"]')
    assert await card.locator("[data-part=snippet]").inner_text() == expected
    # Plain http on a LAN address is no secure context, so there is no real clipboard to read:
    # a stand-in records what the button hands to navigator.clipboard.writeText.
    await page.evaluate(CLIPBOARD_STAND_IN)
    await card.get_by_role("button", name="Copy snippet").click()
    await card.get_by_role("button", name="Copied").wait_for()
    assert await page.evaluate("() => window.copied") == [expected]
    await admin.shot("05-widget-key-snippet")

    # -- recordings: play through the short-lived link --------------------------------------------
    await open_section(page, "Recordings")
    row = page.locator(f'tr[data-recording="{recording.id}"]')
    await row.get_by_text(recording.reference).wait_for()
    await row.get_by_role("button", name=f"Play recording of call {recording.reference} (visitor)").click()

    async def playing() -> bool:
        state = await page.evaluate(VIDEO_STATE)
        assert not state or not state["error"], state
        return bool(state and state["ready"] >= 2 and state["width"] == 160 and state["time"] > 0.2)

    await eventually(playing, 15, "the recording plays in the <video>")
    src = await page.locator(".player video").get_attribute("src")
    assert src and src.startswith(f"{url}/api/v1/recordings/{recording.id}/media?token=")
    await admin.shot("06-recording-playing")
    events = (await api.get("/audit-events", limit="200")).body
    actions = {e["action"] for e in events if e["target"] == f"recording:{recording.id}"}
    assert {"recording.link_created", "recording.played"} <= actions, actions

    # -- audit log and statistics -------------------------------------------------------------------
    await open_section(page, "Audit log")
    await page.locator('tr[data-action="recording.played"]').first.wait_for()
    await page.locator('tr[data-action="retention_rule.update"]').first.get_by_text(email).wait_for()
    await admin.shot("07-audit-log")
    await open_section(page, "Statistics")
    totals = page.locator(".tiles")
    await totals.get_by_text("Calls").wait_for()
    tiles = await page.locator(".tile").all_inner_texts()
    assert tiles[0].split() == ["Calls", "1"] and tiles[1].split() == ["Answered", "1", "(100%)"], tiles
    assert tiles[3].split() == ["Average", "wait", "42", "s"], tiles
    assert tiles[-1].split() == ["Transfers", "0"], tiles
    assert await page.locator("tbody tr").count() == 14
    await admin.shot("08-statistics")
    assert not admin.errors, admin.errors


@pytest.mark.timeout(120)
async def test_an_admin_sets_up_a_queue_and_a_user_and_a_supervisor_sees_only_their_sections(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    admin_email, codes = await enrolled(url, world, "admin")
    supervisor_email, _ = await world.add_user("supervisor")
    api = await api_as(url, admin_email, codes.pop())

    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    page = admin.page
    await log_in(page, admin_email, codes.pop())
    await page.get_by_role("button", name="New queue").click()
    form = page.get_by_role("form", name="New queue")
    await form.get_by_label("Name").fill("Werkplaats")
    await form.get_by_label("Languages").fill("de, FR")
    await form.get_by_label("Time zone").fill("Europe/Berlin")
    await form.get_by_label("Recording", exact=True).select_option("ask")
    await form.get_by_label("Transcribe recordings").check()
    await form.get_by_label("Always open").uncheck()
    await form.get_by_label("Monday opening hours").fill("9:00-12:00, 13:00 - 17:30")
    await form.get_by_label("Saturday opening hours").fill("10:00-14:00")
    await form.get_by_label("Closing days").fill("2026-12-26\n2026-12-25")
    await form.get_by_label("Maximum wait (minutes)").fill("15")
    await admin.shot("09-new-queue")
    await form.get_by_role("button", name="Create queue").click()
    await page.get_by_text('Queue "Werkplaats" created.').wait_for()
    await page.get_by_role(
        "cell", name="Mon 09:00-12:00, 13:00-17:30; Sat 10:00-14:00 (Europe/Berlin); 2 closing days"
    ).wait_for()
    await page.get_by_role("cell", name="15 min", exact=True).wait_for()
    queue = next(q for q in (await api.get("/queues")).body if q["name"] == "Werkplaats")
    assert queue["languages"] == ["de", "fr"] and queue["timezone"] == "Europe/Berlin"
    assert queue["opening_hours"] == {
        "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
        "sat": [["10:00", "14:00"]],
    }
    assert queue["recording_policy"] == "ask" and queue["transcription"] is True
    assert queue["closing_days"] == ["2026-12-25", "2026-12-26"] and queue["max_wait_seconds"] == 900

    await page.get_by_role("button", name="Edit queue Werkplaats").click()
    edit = page.get_by_role("form", name="Edit queue Werkplaats")
    await edit.get_by_label("Monday opening hours").fill("9-12")
    await edit.get_by_role("button", name="Save queue").click()
    await page.get_by_text("Monday: write times like 09:00-17:30").wait_for()  # checked before sending
    await edit.get_by_label("Always open").check()
    await edit.get_by_role("button", name="Save queue").click()
    await page.get_by_role("cell", name="Always open (Europe/Berlin)").wait_for()
    await admin.shot("10-queue-edited")

    # The consent text in Dutch: published as version 1, shown with its hash; English stays built in.
    await open_section(page, "Consent texts")
    await page.get_by_role("button", name="Edit the nl text").click()
    consent = page.get_by_role("form", name="Consent texts")
    assert await consent.get_by_label("Language").input_value() == "nl"
    await consent.get_by_label("Consent text").fill("Wij nemen dit gesprek op als u dat goedvindt.")
    await consent.get_by_role("button", name="Publish new version").click()
    await page.get_by_text("Version 1 of the nl text is published.").wait_for()
    texts = (await api.get("/consent-texts")).body
    assert [(v["language"], v["version"], v["text"]) for v in texts["versions"]] == [
        ("nl", 1, "Wij nemen dit gesprek op als u dat goedvindt.")
    ]
    await admin.shot("10b-consent-texts")

    # The statistics CSV, as the API serves it.
    await open_section(page, "Statistics")
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download CSV").click()
    download = await waiting.value
    assert download.suggested_filename.startswith("statistics-"), download.suggested_filename
    lines = (await download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("day,total,answered,abandoned") and lines[-1].startswith("total,")

    await open_section(page, "Users and roles")
    new_user = page.get_by_role("form", name="New user")
    await new_user.get_by_label("E-mail address").fill("bram@garage.example")
    await new_user.get_by_label("Display name").fill("Bram")
    await new_user.get_by_label("Role").select_option("adviser")
    await new_user.get_by_label("First password").fill("short")
    await new_user.get_by_role("button", name="Create user").click()
    await page.get_by_role("alert").get_by_text("passwords have at least").wait_for()  # the server's words
    await new_user.get_by_label("First password").fill("a long enough first password")
    await new_user.get_by_role("button", name="Create user").click()
    await page.get_by_text("User bram@garage.example created as adviser.").wait_for()
    await page.get_by_label("Role of bram@garage.example").select_option("supervisor")
    await page.get_by_text("bram@garage.example is now supervisor.").wait_for()
    await page.get_by_role("button", name="Deactivate bram@garage.example").click()
    await page.get_by_role("button", name="Reactivate bram@garage.example").wait_for()
    await admin.shot("11-users")
    bram = next(u for u in (await api.get("/users")).body if u["email"] == "bram@garage.example")
    assert (bram["role"], bram["active"], bram["display_name"]) == ("supervisor", False, "Bram")

    await open_section(page, "Widget keys")
    await page.get_by_role("heading", name="Widget keys", level=2).wait_for()
    key_form = admin.page.get_by_role("form", name="New widget key")
    await key_form.get_by_label("Allowed origins").fill("https://shop.example/path")
    await key_form.get_by_role("button", name="Create widget key").click()
    alert = admin.page.get_by_role("alert")
    await alert.wait_for()
    assert "has no path, query or credentials" in await alert.inner_text()
    await admin.shot("12-bad-origin-error")

    supervisor = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    await log_in(supervisor.page, supervisor_email)
    nav = supervisor.page.get_by_role("navigation", name="Sections")
    assert await nav.get_by_role("link").all_inner_texts() == [
        "Queues",
        "Users and roles",
        "Recordings",
        "Transcripts",
        "Calls",
        "Wallboard",
        "Statistics",
        "Two-factor authentication",
        "Data processing agreement",
    ]
    await supervisor.page.get_by_role("cell", name="Sales", exact=True).wait_for()
    assert await supervisor.page.get_by_role("button", name="New queue").count() == 0
    await open_section(supervisor.page, "Users and roles")
    await supervisor.page.get_by_role("cell", name=admin_email).wait_for()
    assert await supervisor.page.get_by_role("button", name="Create user").count() == 0
    await supervisor.shot("13-supervisor-users")
    assert not admin.errors and not supervisor.errors, (admin.errors, supervisor.errors)


async def _value(page: Page, label: str, expected: str) -> bool:
    field = page.get_by_label(label)
    return await field.count() == 1 and await field.input_value() == expected


@pytest.mark.timeout(120)
async def test_a_dpo_turns_redaction_off_and_holds_a_transcript_and_reads_it(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    from tests.api.test_admin_transcripts import add_transcript

    url = base_url(loket)
    world: World = await make_world(backend)
    email, codes = await enrolled(url, world, "dpo", display_name="Dana DPO")
    ids = await add_transcript(backend, world)
    api = await api_as(url, email, codes.pop())
    dpo = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    page = dpo.page
    await log_in(page, email, codes.pop())
    await open_section(page, "Transcripts")
    switch = page.get_by_label("Redact personal data in transcripts", exact=False)
    await eventually(switch.is_checked, 10, "redaction is on by default")
    await switch.uncheck()
    await page.get_by_text("New transcripts keep personal data: redaction is off.").wait_for()
    assert (await api.get("/organisation")).body["redact_transcripts"] is False

    row = page.locator(f'tr[data-transcript="{ids["transcript_id"]}"]')
    await row.get_by_text("tiny.en").wait_for()
    await row.get_by_label("Legal hold on the transcript of call", exact=False).check()
    await page.get_by_text("is on legal hold: it will not be deleted.", exact=False).wait_for()
    assert (await api.get(f"/transcripts/{ids['transcript_id']}")).body["legal_hold"] is True
    await (
        page.locator(f'tr[data-transcript="{ids["transcript_id"]}"]')
        .get_by_role("button", name="Read")
        .click()
    )
    await page.get_by_text("Call me on [PHONE].").wait_for()
    await dpo.shot("14-transcript-on-hold")
    actions = {e["action"] for e in (await api.get("/audit-events", limit="200")).body}
    assert {"organisation.redaction_off", "transcript.legal_hold_set", "transcript.read"} <= actions, actions
    assert not dpo.errors, dpo.errors
