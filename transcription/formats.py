"""Transcript documents: JSON segments (stored, and served by the API) and WebVTT (for players).

WebVTT follows the W3C spec (https://www.w3.org/TR/webvtt1/): the ``WEBVTT`` header line, cues in
start-time order with ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` timings (§4.1), the speaker in a voice span
``<v Visitor>`` (§4.2.2), and ``&``, ``<`` and ``>`` escaped as character references in cue text
and annotations (§4.2.1; escaping ``>`` also keeps ``-->`` out of a cue).
"""

from __future__ import annotations

import json
import math
from typing import Any

from transcription.errors import InvalidTranscript
from transcription.transcript import Segment, Transcript

FORMAT_VERSION = 1


def _seconds(value: float) -> float:
    return round(value, 3)


def transcript_to_dict(transcript: Transcript) -> dict[str, Any]:
    """The JSON document as a dict (times rounded to milliseconds)."""
    segments = []
    for segment in transcript.segments:
        item: dict[str, Any] = {
            "start": _seconds(segment.start),
            "end": _seconds(segment.end),
            "speaker": segment.speaker,
            "text": segment.text,
        }
        if segment.avg_logprob is not None:
            item["avg_logprob"] = round(segment.avg_logprob, 4)
        if segment.no_speech_prob is not None:
            item["no_speech_prob"] = round(segment.no_speech_prob, 4)
        if segment.temperature is not None:
            item["temperature"] = round(segment.temperature, 2)
        segments.append(item)
    return {
        "version": FORMAT_VERSION,
        "language": transcript.language,
        "model": transcript.model,
        "duration": _seconds(transcript.duration),
        "redacted": transcript.redacted,
        "segments": segments,
    }


def to_json(transcript: Transcript) -> str:
    """The transcript as a JSON document (UTF-8 text, not ASCII-escaped)."""
    return json.dumps(transcript_to_dict(transcript), ensure_ascii=False, indent=2) + "\n"


def from_json(document: str | bytes) -> Transcript:
    """Read what ``to_json`` wrote; raises ``InvalidTranscript`` for anything else."""
    try:
        data = json.loads(document)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        segments = tuple(
            Segment(
                start=float(item["start"]),
                end=float(item["end"]),
                text=str(item["text"]),
                speaker=None if item.get("speaker") is None else str(item["speaker"]),
                avg_logprob=None if item.get("avg_logprob") is None else float(item["avg_logprob"]),
                no_speech_prob=None if item.get("no_speech_prob") is None else float(item["no_speech_prob"]),
                temperature=None if item.get("temperature") is None else float(item["temperature"]),
            )
            for item in data["segments"]
        )
        return Transcript(
            language=str(data["language"]),
            model=str(data["model"]),
            duration=float(data["duration"]),
            segments=segments,
            redacted=bool(data["redacted"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidTranscript(f"not a transcript document: {exc}") from exc


def _millis(seconds: float) -> int:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a cue time: {seconds}")
    return round(seconds * 1000)


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (hours grow past two digits when needed, as the spec allows)."""
    return _format_millis(_millis(seconds))


def _format_millis(millis: int) -> str:
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def vtt_escape(text: str) -> str:
    """Escape cue text: ``&`` first, then ``<`` and ``>``; line breaks become spaces (a blank
    line would end the cue)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())


def to_vtt(transcript: Transcript) -> str:
    """The transcript as a WebVTT file, one numbered cue per segment, in start-time order."""
    blocks = ["WEBVTT"]
    ordered = sorted(transcript.segments, key=lambda segment: segment.start)
    for number, segment in enumerate(ordered, start=1):
        start = _millis(segment.start)
        # A cue's end must be after its start (§4.1); Whisper can emit zero-length segments.
        end = max(_millis(segment.end), start + 1)
        text = vtt_escape(segment.text)
        if segment.speaker:
            text = f"<v {vtt_escape(segment.speaker)}>{text}</v>"
        blocks.append(f"{number}\n{_format_millis(start)} --> {_format_millis(end)}\n{text}")
    return "\n\n".join(blocks) + "\n"
