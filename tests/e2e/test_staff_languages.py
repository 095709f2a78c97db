"""Each staff console renders in each of its four languages with no missing key and no English left.

One test per language, in real Chromium whose browser language is that language: the adviser
console's login page (the browser's language: nobody is logged in yet), then its desk, then every
section of the admin console, for an admin whose own setting (``ui_language``) is that language
(for English the setting is left unset, so the browser's language applies, and the English admin
then picks Deutsch in the header's menu). The pages run with
``?i18n=debug``: a key missing from the catalogue shows as ``⟦key⟧``, and every text the catalogue
handed out is noted, so whatever else is on screen is data (marked ``translate="no"`` or shown as
code) or a text that bypassed the catalogue.
Such a leftover is reported when it holds a word of the English texts that the language's own
texts do not use. Screenshots: artifacts/e2e/i18n/<lang>-*.png.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from tests.api.two_factor_fixtures import enrolled
from tests.conftest import PASSWORD, Backend, artifacts_dir, base_url, make_world
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_admin_console import api_as
from tests.e2e.test_staff_catalogues import PLACEHOLDER, load_catalogues

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

BROWSER_LOCALE = {"nl": "nl-NL", "de": "de-DE", "fr": "fr-FR", "en": "en-GB"}

# Visible texts and labels on the page, less every catalogue text shown and the test's own data.
ON_SCREEN = """([data]) => {
  const shown = [...(window.__loketTexts ?? [])].sort((a, b) => b.length - a.length);
  const visible = (el) => !el.checkVisibility || el.checkVisibility();
  const pieces = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    // Data (codes, the snippet, audit details) is marked translate="no" or shown as code.
    if (parent && !["SCRIPT", "STYLE"].includes(parent.tagName) && visible(parent) &&
        !parent.closest("[translate=no], code, pre")) pieces.push(node.textContent);
  }
  for (const el of document.body.querySelectorAll("[aria-label], [placeholder], [title], [alt]")) {
    if (!visible(el)) continue;
    for (const name of ["aria-label", "placeholder", "title", "alt"]) {
      pieces.push(el.getAttribute(name) ?? "");
    }
  }
  const rest = [];
  for (let text of pieces) {
    for (const known of [...data, ...shown]) if (known) text = text.split(known).join(" ");
    if (/\\p{L}{3,}/u.test(text)) rest.push(text.trim());
  }
  const markers = document.body.innerText.match(/⟦[^⟧]*⟧/g) ?? [];
  return { rest, markers, lang: document.documentElement.lang, shown: shown.length };
}"""


def words(texts: Any) -> set[str]:
    """The words of three letters or more in ``texts``, placeholders left out, in lower case."""
    found = re.findall(r"[^\W\d_]{3,}", " ".join(PLACEHOLDER.sub(" ", text) for text in texts))
    return {word.lower() for word in found}


class Checker:
    """Finds, on a page, missing keys and words of English texts that ``language`` does not use."""

    def __init__(self, language: str, data: list[str]) -> None:
        catalogues = load_catalogues()
        self.language = language
        self.data = data
        self.english_only = words(catalogues["en"].values()) - words(catalogues[language].values())
        self.shots = artifacts_dir() / "e2e" / "i18n"
        self.shots.mkdir(parents=True, exist_ok=True)
        self.problems: list[str] = []

    async def check(self, page: Page, where: str) -> None:
        await page.screenshot(path=str(self.shots / f"{self.language}-{where}.png"), full_page=True)
        found = await page.evaluate(ON_SCREEN, [self.data])
        assert found["lang"] == self.language, where
        assert found["shown"] > 0, where
        self.problems += [f"{where}: missing key {marker}" for marker in found["markers"]]
        if self.language != "en":
            for text in found["rest"]:
                english = sorted(words([text]) & self.english_only)
                if english:
                    self.problems.append(f"{where}: English left in {text!r} ({', '.join(english)})")


async def log_in(page: Page, email: str, recovery_code: str) -> None:
    """Through the login form by its fields, not its (translated) labels."""
    await page.locator("#login-email").fill(email)
    await page.locator("#login-password").fill(PASSWORD)
    await page.locator("form button[type=submit]").click()
    await page.locator("#login-totp").wait_for()  # the server asked for the second factor
    await page.locator("#login-totp").fill(recovery_code)
    await page.locator("form button[type=submit]").click()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("language", ["nl", "de", "fr", "en"])
async def test_each_staff_console_speaks_the_users_language_with_no_key_missing_and_no_english_left(
    loket: TestServer, backend: Backend, browser: Browser, language: str
) -> None:
    url = base_url(loket)
    world = await make_world(backend)
    email, codes = await enrolled(url, world, "admin", display_name="Anna Admin")
    api = await api_as(url, email, codes.pop())
    if language != "en":  # English: left unset, so the browser's language applies
        assert (await api.patch("/auth/me", {"ui_language": language})).status == 200
    checker = Checker(language, [email, "Anna Admin", "Sales", "Garage Test", world.widget_key, world.origin])
    context = await browser.new_context(viewport=DESKTOP, locale=BROWSER_LOCALE[language])  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # -- adviser console: the login page in the browser's language, then the desk ----------------
        await page.goto(f"{url}/console/?i18n=debug")
        await page.locator("#login-email").wait_for()
        await checker.check(page, "console-login")
        await log_in(page, email, codes.pop())
        await page.locator("[data-part=presence]").wait_for()
        await page.locator("[data-part=history] tbody").wait_for(state="attached")
        await page.wait_for_function("() => document.querySelector('.conn')?.textContent !== ''")
        await checker.check(page, "console-desk")

        # -- admin console (a new tab: its own login): every section --------------------------------
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{url}/admin/?i18n=debug")
        await page.locator("#login-email").wait_for()
        await checker.check(page, "admin-login")
        await log_in(page, email, codes.pop())
        links = page.locator("nav a[data-section]")
        await links.first.wait_for()
        sections = await links.evaluate_all("(links) => links.map((link) => link.dataset.section)")
        assert len(sections) == 16  # an admin sees them all
        loading = load_catalogues()[language]["app.loading"]
        for section in sections:
            await page.locator(f"nav a[data-section='{section}']").click()
            await page.locator("main h2").first.wait_for()
            await page.wait_for_function(
                "(loading) => !document.querySelector('main').innerText.includes(loading)", arg=loading
            )
            await checker.check(page, f"admin-{section}")
        if language == "en":
            # The user's own setting, from the header's menu: stored on the server, the page reloads in it.
            await page.locator("#staff-language").select_option("de")
            await page.wait_for_function("() => document.documentElement.lang === 'de'")
            await page.locator("nav a[data-section='queues']", has_text="Warteschlangen").wait_for()
            assert (await api.get("/auth/me")).body["ui_language"] == "de"
        assert errors == []
    finally:
        await context.close()
    assert checker.problems == [], "\n".join(checker.problems)
