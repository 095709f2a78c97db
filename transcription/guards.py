"""The last guards against Whisper's hallucinations, applied to what the decoder returned.

Whisper, base especially, falls into loops on difficult audio: measured on espeak-ng speech, one
Dutch sentence came back as the same four words four times, and a French one likewise. The
decoder's own guards come first (``TranscriptionConfig``: no conditioning on the previous text,
the compression-ratio and log-probability thresholds, VAD); what still gets through is handled
here, deterministically, so that the promise holds whatever the audio:

- ``clean``: a phrase of two to twelve words said three times or more in a row, or one word
  four times or more, is kept once. A phrase made only of digits and number words is left
  alone (a dictated "0 0 0 0" or "zero zero seven" said again is a number, not a loop). Then
  a segment that is one of Whisper's known caption hallucinations (subtitle credits, "thanks
  for watching", in our four languages), which it produces from silence and noise because its
  training data had them there, becomes empty.
- ``drop_repeated_segments``: the same text three times or more in consecutive segments is kept
  once (a loop across Whisper's 30-second windows).

Real speech is not touched by either: nobody on a service call says a four-word phrase three
times running, or thanks the adviser for watching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from transcription.pii.numbers import is_number_word
from transcription.transcript import Segment

MAX_PHRASE_WORDS = 12
# Repetitions in a row from which a phrase counts as a loop: one word may be said twice or three
# times for emphasis ("nee nee nee"), a longer phrase not three times.
_LOOP_AT = {1: 4}
_LOOP_AT_PHRASE = 3
_NOT_A_WORD = re.compile(r"[^\w]+")
# Caption credits and video outros Whisper learned from subtitled video, by language, matched
# against a whole segment (lower case, punctuation removed).
_CAPTIONS = re.compile(
    r"^(?:"
    r".*\bamara\s*org\b.*"
    r"|.*\b(?:ondertiteld|ondertiteling|untertitel\w*|sous\s*titr\w*|subtitles?\s+by)\b.*"
    r"|(?:thanks|thank\s+you)\s+(?:so\s+much\s+)?for\s+watching"
    r"|bedankt\s+voor\s+het\s+(?:kijken|luisteren)"
    r"|(?:vielen\s+dank|danke)\s+f[uü]rs\s+zuschauen"
    r"|merci\s+d\s*avoir\s+regard[eé](?:\s+cette\s+vid[eé]o)?"
    r")$"
)


def _key(word: str) -> str:
    return _NOT_A_WORD.sub("", word.lower())


def collapse_loops(text: str) -> str:
    """``text`` with every looping phrase (see the module docstring) kept once."""
    words = text.split()
    keys = [_key(word) for word in words]
    kept: list[str] = []
    i = 0
    while i < len(words):
        loop = _loop_at(keys, i)
        if loop is None:
            kept.append(words[i])
            i += 1
            continue
        size, count = loop
        kept.extend(words[i : i + size])
        i += size * count
    return " ".join(kept)


def _loop_at(keys: Sequence[str], i: int) -> tuple[int, int] | None:
    """(phrase length, repetitions) of the shortest loop starting at ``i``, if any."""
    for size in range(1, MAX_PHRASE_WORDS + 1):
        phrase = list(keys[i : i + size])
        if len(phrase) < size or not all(phrase) or all(map(is_number_word, phrase)):
            continue
        count = 1
        while list(keys[i + count * size : i + (count + 1) * size]) == phrase:
            count += 1
        if count >= _LOOP_AT.get(size, _LOOP_AT_PHRASE):
            return size, count
    return None


def is_caption_hallucination(text: str) -> bool:
    """Whether ``text`` is one of Whisper's caption credits or video outros."""
    return bool(_CAPTIONS.match(" ".join(_NOT_A_WORD.sub(" ", text.lower()).split())))


def clean(text: str) -> str:
    """One segment's text with loops collapsed; "" for a caption hallucination. The patterns of
    all four languages apply to every transcript: Whisper writes an English credit under Dutch
    audio as readily as a Dutch one."""
    collapsed = collapse_loops(text.strip())
    return "" if is_caption_hallucination(collapsed) else collapsed


def drop_repeated_segments(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """``segments`` without the repeats of a text said three times or more in a row."""
    kept: list[Segment] = []
    i = 0
    while i < len(segments):
        key = " ".join(_key(word) for word in segments[i].text.split())
        j = i + 1
        while j < len(segments) and " ".join(_key(word) for word in segments[j].text.split()) == key:
            j += 1
        kept.extend(segments[i : i + 1] if j - i >= _LOOP_AT_PHRASE else segments[i:j])
        i = j
    return tuple(kept)
