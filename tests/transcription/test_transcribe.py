"""Files and calls end to end with the real model: redaction of spoken personal data, and a
call's two recordings merged into one speaker-labelled timeline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.transcription.media_files import read_wav, speak, word_error_rate, write_webm
from transcription import (
    TranscriptionConfig,
    WhisperEngine,
    to_json,
    to_vtt,
    transcribe_call,
    transcribe_file,
)

PERSONAL = "Call me on zero six one two three four five six seven eight or mail jan at example dot com"
VISITOR_SAYS = "Can you show me the damage on the back of the car?"
ADVISER_SAYS = "Could you tell me which model you are interested in?"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("speech")
    visitor, rate = read_wav(speak(VISITOR_SAYS, directory / "visitor.wav", voice="en-us", rate=160))
    adviser, _ = read_wav(speak(ADVISER_SAYS, directory / "adviser.wav", voice="en-gb", rate=150))
    return {
        # espeak-ng's default voice at 130 words per minute; Whisper tiny.en writes this as
        # "Call me on 0612345678 or mail that example.com".
        "personal": speak(PERSONAL, directory / "personal.wav", voice="en", rate=130),
        # Each participant's recording starts with a second of silence.
        "visitor": write_webm(directory / "visitor.webm", [(1.0, visitor)], rate),
        "adviser": write_webm(directory / "adviser.webm", [(1.0, adviser)], rate),
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


async def test_a_call_becomes_one_speaker_labelled_timeline(
    speech: dict[str, Path], config: TranscriptionConfig, engine: WhisperEngine
) -> None:
    # The adviser's recording started first; the visitor's 3.5 s into the call.
    call = await transcribe_call(
        {"visitor": speech["visitor"], "adviser": speech["adviser"]},
        {"visitor": 3.5, "adviser": 0.0},
        config,
        engine,
        language="en",
    )
    speakers = [segment.speaker for segment in call.segments]
    assert (
        speakers
        == sorted(speakers)
        == ["Adviser"] * speakers.count("Adviser") + ["Visitor"] * speakers.count("Visitor")
    )
    adviser = " ".join(s.text for s in call.segments if s.speaker == "Adviser")
    visitor = " ".join(s.text for s in call.segments if s.speaker == "Visitor")
    assert word_error_rate(ADVISER_SAYS, adviser) <= 0.15, adviser
    assert word_error_rate(VISITOR_SAYS, visitor) <= 0.15, visitor
    # Times are call times: each recording's leading second of silence plus its offset.
    first_visitor = next(s for s in call.segments if s.speaker == "Visitor")
    assert 0.5 <= call.segments[0].start <= 1.5
    assert 4.0 <= first_visitor.start <= 5.0
    assert [s.start for s in call.segments] == sorted(s.start for s in call.segments)
    assert call.redacted and call.language == "en"
    samples, rate = read_wav(speech["visitor"].with_suffix(".wav"))
    assert call.duration == pytest.approx(3.5 + 1.0 + len(samples) / rate, abs=0.1)
    assert "<v Visitor>" in to_vtt(call) and "<v Adviser>" in to_vtt(call)
