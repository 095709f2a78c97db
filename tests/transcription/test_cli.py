"""``loket transcribe`` as an operator runs it: the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.transcription.media_files import speak

LOKET = Path(sys.executable).with_name("loket")
SPOKEN = (
    "Could you tell me which model you are interested in? "
    "Call me on zero six one two three four five six seven eight."
)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak(SPOKEN, tmp_path_factory.mktemp("cli") / "spoken.wav", voice="en-us", rate=150)


def loket(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No LOKET_* from the developer's shell (a model or production mode would change the outcome).
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOKET_")}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [str(LOKET), "transcribe", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )


def test_json_is_printed_with_the_phone_number_redacted(spoken: Path, tmp_path: Path) -> None:
    done = loket(spoken, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    document = json.loads(done.stdout)
    assert document["language"] == "en" and document["model"] == "base" and document["redacted"] is True
    text = " ".join(segment["text"] for segment in document["segments"])
    assert "which model you are interested in" in text and "[PHONE]" in text, text
    assert all(0 <= s["start"] <= s["end"] <= document["duration"] for s in document["segments"])


def test_vtt_without_redaction(spoken: Path, tmp_path: Path) -> None:
    done = loket(spoken, "--format", "vtt", "--no-redact", "--language", "en", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:")
    # Whisper may drop a digit here ("061235678"); unredacted, whatever it heard is printed.
    assert "[PHONE]" not in done.stdout and re.search(r"06\d{7,8}", done.stdout.replace(" ", "")), done.stdout


@pytest.mark.parametrize(
    ("language", "text", "voice", "rate", "gap", "heard"),
    [
        ("nl", "Goedemiddag, ik bel over mijn auto.", "nl+klatt", 120, 8, ("goedemiddag", "auto")),
        ("de", "Guten Tag, ich rufe wegen meines Autos an.", "de", 140, 5, ("guten tag", "autos")),
        (
            "fr",
            "Bonjour, je vous appelle pour mon assurance.",
            "fr-fr",
            150,
            3,
            ("vous appelle", "assurance"),
        ),
    ],
)
def test_each_visitor_language_is_transcribed_offline_with_the_bundled_model(
    tmp_path: Path, language: str, text: str, voice: str, rate: int, gap: int, heard: tuple[str, ...]
) -> None:
    spoken = speak(text, tmp_path / f"{language}.wav", voice=voice, rate=rate, gap=gap)
    done = loket(spoken, "--language", language, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["language"], document["model"]) == (language, "base")
    said = " ".join(segment["text"] for segment in document["segments"]).lower()
    assert all(words in said for words in heard), said
    # Heard at temperature 0, without the sampled fallback: the same words every run.
    assert {segment["temperature"] for segment in document["segments"]} == {0.0}, said


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: d / "absent.webm", (), "Error: no such file: "),
        (lambda d: d / "garbage.webm", (), "Error: cannot decode the media file: not a readable media file"),
        (
            lambda d: d / "garbage.webm",
            ("--language", "nl", "--model", "tiny.en"),
            "Error: the model tiny.en is English-only",
        ),
    ],
    ids=["missing-file", "undecodable-file", "english-only-model"],
)
def test_errors_are_one_line_on_stderr_and_exit_1(
    tmp_path: Path, make: object, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "garbage.webm").write_bytes(os.urandom(50_000))
    assert callable(make)
    done = loket(make(tmp_path), *args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
