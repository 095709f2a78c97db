"""Phone numbers, written and as Whisper writes them from speech in English, Dutch, German and
French.

Two passes. ``phonenumbers``' ``PhoneNumberMatcher`` over the configured regions finds written
numbers, national or ``+``/``00`` international. Speech comes out of Whisper in other shapes, so
a second pass reads the runs of ``transcription.pii.numbers`` (digit groups and number words:
"06 12 34 56 78", "0.6 12 34 56 78", "+31 6 1234 5678", "plus 3 1 6 ...", "zero six one two",
"nul zes twaalf vierendertig", "null eins fünf eins", "zéro six, douze, trente-quatre",
"0,1,2,3,4,5,6,8") and redacts the longest part that ``phonenumbers`` accepts as a valid
number of a configured region (or an international one).

Because a recogniser drops and adds digits, a run that is not valid is still redacted when it
has 9 to 15 digits, or 7 to 15 dictated one digit at a time (German speech through Whisper base
gave "0,1,2,3,4,5,6,8" for a ten-digit number). Every number must start with 0, 00 or + (the
national trunk prefix of every configured region, or international): years, prices, times,
dates and counts never do, and they survive. Except where the number was announced ("my
number is", "mijn telefoonnummer is", "meine Nummer ist", "mon numéro de téléphone est", within
six words): then 8 to 15 digits are a phone number whatever they start with, because the
recogniser loses a leading "nul"/"null"/"zéro" more often than any other digit (Whisper base
heard "null eins fünf eins ..." as "nun 1, 5, 1, ...").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import phonenumbers

from transcription.pii.numbers import Part, number_runs

MAX_DIGITS = 15  # ITU-T E.164
LENIENT_MIN_DIGITS = 9
DICTATED_MIN_DIGITS = 7
ANNOUNCED_MIN_DIGITS = 8
# Words announcing a phone number ("my number", "meine Nummer", "mon numéro", "telephone",
# "Handynummer", "call me on", "rappelez-moi"), then at most six words without digits. A bare
# "number" is not one: "the invoice number is 2023 0045 1234" must survive.
_ANNOUNCED = re.compile(
    r"(?:\b(?:my|your|mijn|uw|je|jouw|meine|ihre|deine|mon|votre|ton)\s+"
    r"(?:(?:phone|mobile|cell|tele)\s*)?(?:number|nummer|num[ée]ro)\b"
    r"|\b(?:phone|telephone|mobile|cell)\s*number\b"
    r"|\b(?:telefoon|mobiel|gsm|telefon|handy|mobil|ruf)\w*\b"
    r"|\b(?:t[ée]l[ée]phone|portable|natel|phone|mobile)\b"
    r"|\b(?:call|ring|reach)\s+me\b|\bbel\s+(?:me|mij)\b|\bruf\w*\s+(?:mich|sie)\b|\b(?:r?appel\w*)\b)"
    r"(?:[^\w]+[^\W\d]+){0,6}[^\w]*$",
    re.IGNORECASE,
)


def _digit_count(parts: Sequence[Part]) -> int:
    return sum(len(part.digits) for part in parts if part.digits != "+")


class PhoneFinder:
    """Finds phone numbers of ``regions`` (ISO 3166 alpha-2) and international ones."""

    def __init__(self, regions: Sequence[str]) -> None:
        self.regions = tuple(regions)

    def is_valid(self, digits: str) -> bool:
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        candidates = [(digits, None)] if digits.startswith("+") else [(digits, r) for r in self.regions]
        for number, region in candidates:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return True
        return False

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of ``text`` that are phone numbers (they may overlap; the redactor decides)."""
        for region in self.regions:
            for found in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                if found.raw_string.lstrip("( ")[:1] in ("+", "0"):
                    yield found.start, found.end
        for run in number_runs(text):
            yield from self._in_run(text, run)

    def _in_run(self, text: str, parts: list[Part]) -> Iterator[tuple[int, int]]:
        i = 0
        while i < len(parts):
            head = parts[i].digits
            announced = _ANNOUNCED.search(text, max(0, parts[i].start - 80), parts[i].start) is not None
            if (head[0] not in "+0" and not announced) or (head == "+" and i + 1 == len(parts)):
                i += 1
                continue
            # Candidate ends, longest first, while the number can still be a phone number.
            ends: list[int] = []
            for j in range(i, len(parts)):
                if j > i and parts[j].digits == "+":
                    break
                if _digit_count(parts[i : j + 1]) > MAX_DIGITS + 2:  # room for a 00 prefix
                    break
                ends.append(j + 1)
            found = next((j for j in reversed(ends) if self._valid(parts[i:j])), None)
            if found is None:
                lenient = [j for j in ends if _lenient(parts[i:j], announced=announced)]
                found = lenient[-1] if lenient else None
            if found is None:
                i += 1
                continue
            yield parts[i].start, parts[found - 1].end
            i = found

    def _valid(self, parts: Sequence[Part]) -> bool:
        return 6 <= _digit_count(parts) <= MAX_DIGITS + 2 and self.is_valid("".join(p.digits for p in parts))


def _lenient(parts: Sequence[Part], *, announced: bool) -> bool:
    """Not valid, but too long and too number-like to be anything else (see the module doc)."""
    count = _digit_count(parts)
    if not parts[0].digits.startswith(("+", "0")):
        return announced and ANNOUNCED_MIN_DIGITS <= count <= MAX_DIGITS
    if LENIENT_MIN_DIGITS <= count <= MAX_DIGITS:
        return True
    dictated = all(len(part.digits) == 1 for part in parts)
    return dictated and DICTATED_MIN_DIGITS <= count <= MAX_DIGITS
