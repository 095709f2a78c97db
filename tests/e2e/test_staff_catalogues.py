"""The staff consoles' catalogues (widget/src/staff/texts) are complete in every language.

The compiler already refuses a catalogue with a missing or extra key (each is a
``Record<StaffKey, string>``, like the widget's typed ``Catalogue``); this test reads the built
catalogues themselves and checks what the compiler cannot: no empty text, the same ``{placeholders}``
as English (a translation that drops ``{email}`` would show less than it should), and no dead key.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WIDGET = Path(__file__).resolve().parents[2] / "widget"
SOURCES = WIDGET / "src"

# Bundles the catalogues with the widget's own esbuild and prints them as JSON.
DUMP = """
import { build } from "esbuild";
const out = await build({ entryPoints: ["src/staff/texts/index.ts"], bundle: true, format: "esm",
  platform: "neutral", write: false, logLevel: "error" });
const code = Buffer.from(out.outputFiles[0].contents).toString("base64");
const module = await import("data:text/javascript;base64," + code);
console.log(JSON.stringify({ catalogues: module.STAFF_CATALOGUES, languages: module.LANGUAGES }));
"""

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Keys the code builds from a code it received: t(`end.${reason}`), errorText(code), t(`role.${role}`), ...
DYNAMIC_PREFIXES = ("end.", "error.", "role.", "recording.", "call.media.", "outcome.")


def load_catalogues() -> dict[str, dict[str, str]]:
    """Every staff catalogue, by language, read from the TypeScript sources."""
    node = shutil.which("node")
    if node is None or not (WIDGET / "node_modules" / "esbuild").exists():
        pytest.skip("needs node and widget/node_modules (npm ci in widget/)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", DUMP],
        cwd=WIDGET,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    dumped = json.loads(done.stdout)
    assert dumped["languages"] == ["nl", "de", "fr", "en"]
    found: dict[str, dict[str, str]] = dumped["catalogues"]
    return found


@pytest.fixture(scope="module")
def catalogues() -> dict[str, dict[str, str]]:
    return load_catalogues()


def test_every_language_has_every_key_with_a_text_and_the_same_placeholders(
    catalogues: dict[str, dict[str, str]],
) -> None:
    english = catalogues["en"]
    assert len(english) > 300  # the whole of both consoles, not a stub
    problems: list[str] = []
    for language, texts in catalogues.items():
        if set(texts) != set(english):
            missing, extra = sorted(set(english) - set(texts)), sorted(set(texts) - set(english))
            problems.append(f"{language}: missing {missing}, extra {extra}")
        for key, text in texts.items():
            if not text.strip():
                problems.append(f"{language} {key}: empty")
            wanted = sorted(PLACEHOLDER.findall(english.get(key, "")))
            if key in english and sorted(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"{language} {key}: placeholders {PLACEHOLDER.findall(text)} in {text!r}")
            if key in english and text.endswith(" ") != english[key].endswith(" "):
                # A trailing space joins a text to what follows it on screen.
                problems.append(f"{language} {key}: trailing space differs from English")
    assert problems == []


def test_the_translations_are_not_english_left_in_place(catalogues: dict[str, dict[str, str]]) -> None:
    english = catalogues["en"]
    # Words that are the same in the other languages (names, loanwords, codes).
    same_everywhere = {
        "Chat", "Online", "Webhooks", "Wallboard", "Status", "Details", "Model", "Organisation", "Name",
        "E-mail", "Transcription", "Administration", "supervisor", "Supervisor", "Loket — administration",
        "Loket · administration", "{free} of {present}", "{section} — Loket administration",
        "{email} is now {value}.",
    }  # fmt: skip
    for language in ("nl", "de", "fr"):
        untranslated = [
            key
            for key, text in catalogues[language].items()
            if text == english[key] and text not in same_everywhere
        ]
        assert len(untranslated) <= 5, f"{language}: still English: {untranslated}"


def test_every_key_is_used_by_the_consoles(catalogues: dict[str, dict[str, str]]) -> None:
    code = "\n".join(
        path.read_text()
        for folder in ("console", "admin", "staff")
        for path in (SOURCES / folder).rglob("*.ts")
        if "texts" not in path.parts
    )
    unused = [
        key for key in catalogues["en"] if f'"{key}"' not in code and not key.startswith(DYNAMIC_PREFIXES)
    ]
    assert unused == [], f"texts no console shows (remove them from every catalogue): {unused}"
