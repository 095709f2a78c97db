"""Files end to end with the real model: redaction of spoken personal data. (A call's recordings
merged into one speaker-labelled timeline are tested through the job, in test_job.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.transcription.media_files import speak
from transcription import TranscriptionConfig, WhisperEngine, to_json, to_vtt, transcribe_file

PERSONAL = "Call me on zero six one two three four five six seven eight or mail jan at example dot com"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("speech")
    return {
        # espeak-ng's default voice at 130 words per minute; Whisper tiny.en writes this as
        # "Call me on 0612345678 or mail that example.com".
        "personal": speak(PERSONAL, directory / "personal.wav", voice="en", rate=130),
    }


async def test_a_spoken_phone_number_and_email_address_are_redacted(
    speech: dict[str, Path], config: TranscriptionConfig, engine: WhisperEngine
) -> None:
    heard = await transcribe_file(speech["personal"], config, engine, redact=False)
    # The recogniser did hear both (else this test would prove nothing)...
    assert "612345678" in re.sub(r"\D", "", heard.text) and "example" in heard.text.lower(), heard.text
    stored = await transcribe_file(speech["personal"], config, engine)
    # ...and neither survives redaction, in any stored format.
    assert stored.redacted and "[PHONE]" in stored.text and "[EMAIL]" in stored.text, stored.text
    for document in (stored.text, to_json(stored), to_vtt(stored)):
        assert "12345678" not in re.sub(r"[\s.,()+-]", "", document), document
        assert "example" not in document.lower() and "jan" not in document.lower(), document
