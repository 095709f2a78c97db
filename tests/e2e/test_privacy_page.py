"""The privacy-request page (/privacy/request) in real Chromium: a visitor asks with their
privacy key, keeps the request number and secret, follows the status live and downloads the
export; a returning visitor checks with number and secret; nothing lands in browser storage."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

import recordings
from db import create_engine, create_session_factory
from privacy import issue_privacy_key, new_privacy_key
from privacy.request_worker import process_requests
from tests.api.recording_fixtures import stored_recording, write_test_webm
from tests.conftest import Backend, base_url, make_world
from tests.e2e.conftest import DESKTOP, PHONE, Visitor

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

STORAGE_USED = "() => [localStorage.length, sessionStorage.length, document.cookie]"


async def privacy_key_for(backend: Backend, call_id: uuid.UUID) -> str:
    """What ending the call gave its visitor (signaling.ending): a key whose HMAC is stored."""
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine, keys=backend.settings().installation_keys())() as db:
            key = await issue_privacy_key(db, call_id)
            await db.commit()
            return key
    finally:
        await engine.dispose()


async def run_worker_pass(backend: Backend) -> None:
    """What the worker does between two polls of the page: process the open requests."""
    config = backend.settings().recordings()
    storage = recordings.storage_from_config(config)
    engine = create_engine(backend.database_url)
    try:
        await process_requests(create_session_factory(engine), storage, config)
    finally:
        await storage.stop()
        await engine.dispose()


@pytest.mark.timeout(120)
async def test_a_visitor_asks_for_a_copy_keeps_id_and_secret_and_downloads_it_when_ready(
    loket: TestServer,
    backend: Backend,
    tmp_path: Path,
    open_visitor: Callable[..., Awaitable[Visitor]],
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    recording = await stored_recording(backend, world, write_test_webm(tmp_path / "media.webm"))
    key = await privacy_key_for(backend, recording.call_id)
    # As the widget's "ended" screen links it: the key in the fragment (never sent), in Dutch.
    visitor = await open_visitor(
        f"{url}/privacy/request?lang=nl#key={key}", viewport=DESKTOP, shots="privacy"
    )
    page = visitor.page
    await page.get_by_role("heading", name="Gegevens van uw videogesprek").wait_for()
    assert await page.get_by_label("Privacysleutel").input_value() == key
    # Read once, then gone from the address bar and history.
    assert page.url == f"{url}/privacy/request?lang=nl"
    assert await page.get_by_role("radio", name="Een kopie van mijn gegevens").is_checked()
    await visitor.shot("01-form-nl")

    await page.get_by_role("button", name="Verzoek versturen").click()
    status = page.locator("[data-part=status]")
    await status.wait_for()
    await page.get_by_text("Bewaar het verzoeknummer en de geheime code").wait_for()
    request_id = await page.locator("[data-part=request-id]").inner_text()
    secret = await page.locator("[data-part=secret]").inner_text()
    assert len(request_id) == 36 and len(secret) >= 20
    await page.get_by_text("Ontvangen — wacht op verwerking.").wait_for()
    await visitor.shot("02-received-keep-this")

    await run_worker_pass(backend)  # the page keeps polling: the status turns to done by itself
    download_button = page.get_by_role("button", name="Mijn kopie downloaden (ZIP)")
    await download_button.wait_for(timeout=20_000)
    assert await status.get_attribute("data-status") == "done"
    await visitor.shot("03-export-ready")
    async with page.expect_download() as waiting:
        await download_button.click()
    download = await waiting.value
    archive = zipfile.ZipFile(io.BytesIO(Path(await download.path()).read_bytes()))
    names = archive.namelist()
    assert "call.json" in names and any(name.endswith(".webm") for name in names), names
    media = next(name for name in names if name.endswith(".webm"))
    assert archive.read(media) == recording.media
    assert await page.evaluate(STORAGE_USED) == [0, 0, ""]
    assert not visitor.errors, visitor.errors

    # Back another day, in English, with the number and secret they kept.
    again = await open_visitor(f"{url}/privacy/request?lang=en", viewport=PHONE, shots="privacy")
    await again.page.get_by_label("Request number").fill(request_id)
    await again.page.get_by_label("Secret").fill(secret)
    await again.page.get_by_role("button", name="Check status").click()
    await again.page.get_by_role("button", name="Download my copy (ZIP)").wait_for()
    await again.shot("04-returning-visitor-phone")
    await again.page.get_by_role("button", name="Make another request").click()
    await again.page.get_by_label("Request number").fill(request_id)
    await again.page.get_by_label("Secret").fill("not-the-secret")
    await again.page.get_by_role("button", name="Check status").click()
    await again.page.get_by_text("No request with this number and secret").wait_for()
    await again.shot("05-wrong-secret")
    assert not again.errors, again.errors


async def test_a_mistyped_key_is_caught_before_sending_and_erasure_asks_for_confirmation(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    visitor = await open_visitor(f"{url}/privacy/request", viewport=PHONE, shots="privacy")
    page = visitor.page
    # No ?lang: the browser's language (Chromium's default here is English).
    await page.get_by_role("heading", name="Your video call data").wait_for()
    await page.get_by_label("Privacy key").fill("ABC")
    await page.get_by_role("button", name="Send request").click()
    await page.get_by_text("This does not look like a privacy key").wait_for()
    assert await page.get_by_label("Privacy key").get_attribute("aria-invalid") == "true"
    # The call's reference code, which staff see too, is no privacy key.
    await page.get_by_label("Privacy key").fill("7KQ2M-XW9FD")
    await page.get_by_role("button", name="Send request").click()
    await page.get_by_text("The reference code of the call is not a privacy key").wait_for()

    await page.get_by_label("Privacy key").fill(new_privacy_key().lower().replace("-", " "))
    await page.get_by_role("radio", name="Erase my data").check()
    await page.get_by_role("button", name="Send request").click()
    await page.get_by_text("Please tick the box").wait_for()
    await visitor.shot("06-erase-needs-confirmation")
    await page.get_by_label("I understand that erasure cannot be undone.").check()
    await page.get_by_role("button", name="Send request").click()
    await page.locator("[data-part=status]").wait_for()
    # Same answer whether or not the code exists; the worker will say "not found" later.
    assert await page.locator("[data-part=request-id]").inner_text()
    await page.get_by_text("Erasure: Received").wait_for()
    await visitor.shot("07-erase-received")

    # The language menu switches the page without losing the request on screen.
    await page.get_by_label("Language").select_option("de")
    await page.get_by_text("Löschung: Eingegangen").wait_for()
    assert "lang=de" in page.url
    await visitor.shot("08-erase-received-de")
    assert not visitor.errors, visitor.errors
