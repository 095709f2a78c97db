"""Transcript documents: JSON round trip, and WebVTT that follows the W3C structure and escapes."""

from __future__ import annotations

import json
import re

import pytest

from transcription import InvalidTranscript, Segment, Transcript, from_json, to_json, to_vtt

TIMING = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$")


def transcript(*segments: Segment) -> Transcript:
    return Transcript(language="en", model="tiny.en", duration=4000.0, segments=segments, redacted=True)


def seconds(hours: str, minutes: str, secs: str, millis: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def parse_vtt(document: str) -> list[tuple[float, float, str]]:
    """A strict reading of the WebVTT file structure (W3C WebVTT §4.1): the signature line, a blank
    line, then blocks of an optional identifier, a timing line and one or more payload lines, separated
    by exactly one blank line; cue start times in order, each end after its start, no "-->" in a
    payload."""
    assert document.endswith("\n") and not document.endswith("\n\n")
    header, *blocks = document.rstrip("\n").split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        lines = block.split("\n")
        if not TIMING.match(lines[0]):
            identifier, *lines = lines
            assert identifier and "-->" not in identifier
        match = TIMING.match(lines[0])
        assert match, f"not a timing line: {lines[0]!r}"
        start, end = seconds(*match.groups()[:4]), seconds(*match.groups()[4:])
        payload = lines[1:]
        assert payload and all(line.strip() and "-->" not in line for line in payload)
        assert end > start
        assert not cues or start >= cues[-1][0]
        cues.append((start, end, "\n".join(payload)))
    return cues


def test_vtt_has_the_header_ordered_cues_and_voice_spans() -> None:
    document = to_vtt(
        transcript(
            Segment(0.0, 2.5, "Hello, how can I help?", speaker="Adviser"),
            Segment(2.75, 5.0, "My car makes a noise.", speaker="Visitor"),
            Segment(3723.004, 3725.0, "Goodbye.", speaker="Visitor"),
        )
    )
    assert document.startswith(
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.500\n<v Adviser>Hello, how can I help?</v>\n"
    )
    assert parse_vtt(document) == [
        (0.0, 2.5, "<v Adviser>Hello, how can I help?</v>"),
        (2.75, 5.0, "<v Visitor>My car makes a noise.</v>"),
        (3723.004, 3725.0, "<v Visitor>Goodbye.</v>"),
    ]


def test_vtt_escapes_markup_and_keeps_cues_intact() -> None:
    document = to_vtt(
        transcript(
            Segment(1.0, 1.0, "Fish & chips <b>now</b> --> later\n\nnext line", speaker="Visitor <x>"),
            Segment(0.5, 0.9, "[PHONE] & [EMAIL]"),
        )
    )
    cues = parse_vtt(document)
    # Sorted by start; a zero-length segment still gets an end after its start.
    assert [(start, end) for start, end, _ in cues] == [(0.5, 0.9), (1.0, 1.001)]
    assert cues[0][2] == "[PHONE] &amp; [EMAIL]"
    assert (
        cues[1][2]
        == "<v Visitor &lt;x&gt;>Fish &amp; chips &lt;b&gt;now&lt;/b&gt; --&gt; later next line</v>"
    )


def test_json_round_trips() -> None:
    original = transcript(
        Segment(
            0.0,
            1.23456,
            "One & two",
            speaker="Visitor",
            avg_logprob=-0.25,
            no_speech_prob=0.01,
            temperature=0.2,
        ),
        Segment(1.5, 2.0, "Drie <vier>"),
    )
    document = to_json(original)
    data = json.loads(document)
    assert data["version"] == 1 and data["redacted"] is True and data["language"] == "en"
    assert data["segments"][0] == {
        "start": 0.0,
        "end": 1.235,
        "speaker": "Visitor",
        "text": "One & two",
        "avg_logprob": -0.25,
        "no_speech_prob": 0.01,
        "temperature": 0.2,
    }
    restored = from_json(document)
    assert restored.segments[1] == original.segments[1]
    assert restored.segments[0].temperature == 0.2
    assert restored.segments[0].end == 1.235
    assert (restored.language, restored.model, restored.redacted) == ("en", "tiny.en", True)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "[]",
        '{"version": 2}',
        '{"version": 1, "segments": [{"start": 1}]}',
        '{"version": 1, "segments": []}',
    ],
)
def test_anything_else_is_an_invalid_transcript(document: str) -> None:
    with pytest.raises(InvalidTranscript):
        from_json(document)
