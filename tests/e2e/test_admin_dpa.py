"""The admin console's "Data processing agreement" section in real Chromium: an admin is told
that recording and transcription are off and that only a dpo may accept; the dpo reads the text
and accepts it, and the section says recording is on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from tests.api.two_factor_fixtures import enrolled
from tests.conftest import Backend, base_url
from tests.e2e.conftest import DESKTOP, Visitor
from tests.e2e.test_admin_console import log_in, open_section
from tests.signaling.test_dpa_gate import world_without_dpa

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]
SECTION = "Data processing agreement"


async def test_the_admin_sees_why_recording_is_off_and_the_dpo_accepts_the_agreement(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world = await world_without_dpa(backend)
    admin_email, admin_codes = await enrolled(url, world, "admin")
    dpo_email, dpo_codes = await enrolled(url, world, "dpo", display_name="Dana DPO")

    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    await log_in(admin.page, admin_email, admin_codes.pop())
    await open_section(admin.page, SECTION)
    status = admin.page.locator("[data-part=dpa-status]")
    await status.wait_for()
    text = await status.inner_text()
    assert "Recording and transcription are off" in text and "role dpo" in text, text
    assert await admin.page.get_by_role("button", name="Accept this agreement").count() == 0
    await admin.shot("20-dpa-not-accepted")

    dpo = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="admin")
    await log_in(dpo.page, dpo_email, dpo_codes.pop())
    await open_section(dpo.page, SECTION)
    assert "Data processing agreement (template" in await dpo.page.locator(".dpa-text").inner_text()
    await dpo.page.get_by_role("button", name="Accept this agreement").click()
    accepted = dpo.page.locator("[data-part=dpa-status]")
    await dpo.page.get_by_text("Accepted: version").wait_for()
    assert "by Dana DPO" in await accepted.inner_text()
    await dpo.shot("21-dpa-accepted")
    assert not admin.errors and not dpo.errors, (admin.errors, dpo.errors)
