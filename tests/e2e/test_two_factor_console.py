"""Two-factor authentication in real Chromium: a new admin's first login leads to the enrolment,
where the test reads the secret from the page, checks the QR code is exactly the one segno makes
of the ``otpauth://`` URI with that secret, confirms with a code computed by pyotp, sees ten
recovery codes; the next login asks for a code, and a wrong one is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pyotp
import pytest
import segno
from aiohttp.test_utils import TestServer

from tests.conftest import PASSWORD, Backend, World, base_url, make_world
from tests.e2e.conftest import DESKTOP, Visitor

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


async def fill_login(admin: Visitor, email: str) -> None:
    page = admin.page
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


@pytest.mark.timeout(120)
async def test_an_admin_enrols_in_the_console_and_must_use_two_factor_at_the_next_login(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, _ = await world.add_user("admin", display_name="Anna Admin")
    admin = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="two-factor")
    page = admin.page

    # -- the one grace login leads straight to the enrolment ---------------------------------------
    await fill_login(admin, email)
    await page.get_by_role("heading", name="Set up two-factor authentication").wait_for()
    await admin.shot("01-enrolment-required")
    await page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = (await page.locator("[data-part=totp-secret]").inner_text()).strip()
    assert pyotp.TOTP(secret).byte_secret() and len(secret) == 32  # 160 bits
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Loket")
    qr = await page.get_by_role("img", name="QR code for your authenticator app").get_attribute("src")
    assert qr == segno.make(uri, error="m", micro=False).svg_data_uri(scale=5, border=4)
    await admin.shot("02-qr-code")

    totp = pyotp.TOTP(secret)
    if totp.interval - time.time() % totp.interval < 3:
        await asyncio.sleep(3)  # a new 30 s step, so that the code below stays valid long enough
    await page.get_by_label("Enter the 6-digit code the app shows").fill(totp.now())
    await page.get_by_role("button", name="Confirm").click()
    await page.locator("[data-part=recovery-codes] li").first.wait_for()
    codes = await page.locator("[data-part=recovery-codes] li").all_inner_texts()
    assert len(codes) == 10 == len(set(codes))
    await admin.shot("03-recovery-codes")
    await page.get_by_role("button", name="I have stored these codes").click()
    await page.get_by_role("button", name="Log out").wait_for()
    await page.get_by_role("heading", name="Queues", level=2).wait_for()
    await page.get_by_role("button", name="Log out").click()

    # -- the next login needs the code -------------------------------------------------------------
    await page.get_by_role("heading", name="Loket").wait_for()
    await fill_login(admin, email)
    code_field = page.get_by_label("Authenticator code")
    await code_field.wait_for()
    await page.get_by_text("Enter the 6-digit code from your authenticator app.").wait_for()
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    await code_field.fill(wrong)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("That authenticator code is not right.").wait_for()
    await admin.shot("04-wrong-code")
    await code_field.fill(totp.at(time.time() + totp.interval))  # the next step's code: not yet used
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("button", name="Log out").wait_for()

    # -- the console's own section shows it is on --------------------------------------------------
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Two-factor authentication")
        .click()
    )
    await page.get_by_text("On. 10 of 10 recovery codes left.").wait_for()
    await admin.shot("05-two-factor-on")
    assert not admin.errors, admin.errors


@pytest.mark.timeout(90)
async def test_an_adviser_may_enrol_in_the_admin_console_which_shows_them_only_that(
    loket: TestServer, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world: World = await make_world(backend)
    email, _ = await world.add_user("adviser")
    adviser = await open_visitor(f"{url}/admin/", viewport=DESKTOP, shots="two-factor-adviser")
    page = adviser.page
    await fill_login(adviser, email)  # not required for advisers: no enrolment page in between
    await page.get_by_role("heading", name="Two-factor authentication", level=2).wait_for()
    nav = page.get_by_role("navigation", name="Sections")
    assert await nav.get_by_role("link").all_inner_texts() == ["Two-factor authentication"]
    await page.get_by_text("Not set up.").wait_for()
    await page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = (await page.locator("[data-part=totp-secret]").inner_text()).strip()
    totp = pyotp.TOTP(secret)
    await page.get_by_label("Enter the 6-digit code the app shows").fill(totp.now())
    await page.get_by_role("button", name="Confirm").click()
    await page.locator("[data-part=recovery-codes] li").first.wait_for()
    await page.get_by_role("button", name="I have stored these codes").click()
    await page.get_by_text("On. 10 of 10 recovery codes left.").wait_for()
    await adviser.shot("01-adviser-enrolled")
    assert not adviser.errors, adviser.errors
