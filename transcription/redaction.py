"""PII redaction of transcript text before it is stored: each match becomes a typed placeholder.

What is recognised (``PiiKind``):

- **Phone numbers**, with ``phonenumbers``: its ``PhoneNumberMatcher`` over the configured regions
  (NL, BE, DE, FR, GB by default) finds written numbers, national or ``+``/``00`` international.
  Speech comes out of Whisper in other shapes, so a second pass reads runs of digit groups and
  number words joined by spaces, commas, dots or hyphens ("06 12 34 56 78", "0.6 12 34 56 78",
  "+31 6 1234 5678", "plus 3 1 6 ...", "zero six one two ...", "zero six twelve thirty four",
  "double five") and redacts the longest part that ``phonenumbers`` accepts as a valid number of
  a configured region (or an international one). Because a recogniser can drop or add a digit, a
  run of 9 to 15 digits starting with 0, 00 or + is redacted even when not valid. Every number
  must start with 0, 00 or + (the national trunk prefix of all five regions, or international):
  years, prices, times and counts never do, and they survive.
- **E-mail addresses**: written (``jan@example.com``), spoken the way Whisper writes it
  ("jan at example.com", "jan.devries at example dot nl", "jan dot devries at example dot com"),
  and, since Whisper often fuses a spoken address into one word ("janhatexample.com",
  "john that example dot com"), a domain name with a common top-level domain within four words
  after "mail", "e-mail" or "email address".
- **IBANs**: country code, check digits and the country's exact length (spaces allowed), accepted
  only when the ISO 13616 mod-97 check holds.
- **Licence plates**: the fourteen Dutch sidecodes ("12-ABC-3", "AB-123-C"), Belgian
  ("1-ABC-123", "ABC-123", "123-ABC"), German ("B-AB 1234", "M AB 123", optional E/H suffix).
  Upper case and, for NL and BE, dashes are required, so prose, model names and dates survive.

Not covered: IBANs or plates spelled letter by letter, numbers spoken in Dutch/German/French words.
A match may run across Whisper's segment boundaries (people pause inside a phone number):
``redact_segments`` searches a speaker's segments as one text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from transcription.config import DEFAULT_PHONE_REGIONS
from transcription.transcript import Segment


class PiiKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    IBAN = "iban"
    PLATE = "plate"

    @property
    def placeholder(self) -> str:
        return f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """``text[start:end]`` is personal data of ``kind``."""

    start: int
    end: int
    kind: PiiKind


# -- phone numbers ---------------------------------------------------------------------------

_UNITS = {
    "zero": "0",
    "oh": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
_TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_WORD = re.compile(r"\+|\d+|[^\W\d_]+")
# What may separate the parts of one spoken number: spaces, commas, dots, hyphens, slashes, brackets.
_JOINER = re.compile(r"[\s,.\-/()]{0,3}")
_MAX_DIGITS = 15  # ITU-T E.164
_LENIENT_MIN_DIGITS = 9


@dataclass(frozen=True, slots=True)
class _Part:
    start: int
    end: int
    digits: str  # "+" for a leading plus


def _spoken_number_runs(text: str) -> Iterator[list[_Part]]:
    """Maximal runs of digit groups and number words with only joiners between them."""
    run: list[_Part] = []
    pending: tuple[int, int, str] | None = None  # a tens word waiting for its unit ("thirty" "four")
    repeat: tuple[int, int] | None = None  # "double" waiting for its digit: (start, count)
    last_end = -1

    def flush() -> Iterator[list[_Part]]:
        nonlocal run, pending, repeat
        if pending is not None:
            run.append(_Part(pending[0], pending[1], pending[2] + "0"))
        if run:
            yield run
        run, pending, repeat = [], None, None

    for match in _WORD.finditer(text):
        word = match.group().lower()
        if last_end >= 0 and not _JOINER.fullmatch(text, last_end, match.start()):
            yield from flush()
        last_end = match.end()
        start, end = match.span()
        if word in _UNITS or word.isdigit():
            digits = _UNITS.get(word, word)
            if pending is not None and word in _UNITS:
                run.append(_Part(pending[0], end, pending[2] + digits))
                pending = None
                continue
            if pending is not None:
                run.append(_Part(pending[0], pending[1], pending[2] + "0"))
                pending = None
            if repeat is not None:
                if len(digits) != 1:
                    yield from flush()
                else:
                    run.append(_Part(repeat[0], end, digits * repeat[1]))
                    repeat = None
                    continue
            run.append(_Part(start, end, digits))
        elif word in _TEENS or word in _TENS:
            if pending is not None:
                run.append(_Part(pending[0], pending[1], pending[2] + "0"))
                pending = None
            if word in _TEENS:
                run.append(_Part(start, end, _TEENS[word]))
            else:
                pending = (start, end, _TENS[word])
        elif word in _REPEATS:
            if pending is not None or repeat is not None:
                yield from flush()
            repeat = (start, _REPEATS[word])
        elif word in ("+", "plus"):
            yield from flush()
            run.append(_Part(start, end, "+"))
        else:
            yield from flush()
            last_end = -1
    yield from flush()


def _digit_count(digits: str) -> int:
    return len(digits) - digits.count("+")


class _PhoneFinder:
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
        for region in self.regions:
            for found in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                if found.raw_string.lstrip("( ")[:1] in ("+", "0"):
                    yield found.start, found.end
        for run in _spoken_number_runs(text):
            yield from self._in_run(run)

    def _in_run(self, parts: list[_Part]) -> Iterator[tuple[int, int]]:
        i = 0
        while i < len(parts):
            head = parts[i].digits
            if head[0] not in "+0" or (head == "+" and i + 1 == len(parts)):
                i += 1
                continue
            # Candidate ends, longest first, while the number can still be a phone number.
            ends: list[int] = []
            digits = ""
            for j in range(i, len(parts)):
                if j > i and parts[j].digits == "+":
                    break
                digits += parts[j].digits
                if _digit_count(digits) > _MAX_DIGITS + 2:  # room for a 00 prefix
                    break
                ends.append(j + 1)
            found = next((j for j in reversed(ends) if self._valid_parts(parts[i:j])), None)
            if found is None:
                lenient = [j for j in ends if _LENIENT_MIN_DIGITS <= _count(parts[i:j]) <= _MAX_DIGITS]
                found = lenient[-1] if lenient else None
            if found is None:
                i += 1
                continue
            yield parts[i].start, parts[found - 1].end
            i = found

    def _valid_parts(self, parts: Sequence[_Part]) -> bool:
        digits = "".join(part.digits for part in parts)
        return 6 <= _digit_count(digits) <= _MAX_DIGITS + 2 and self.is_valid(digits)


def _count(parts: Sequence[_Part]) -> int:
    return _digit_count("".join(part.digits for part in parts))


# -- e-mail addresses ------------------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOT = r"(?:\.|\s+dot\s+)"
_LOCAL_JOIN = r"(?:[._-]|\s+(?:dot|underscore|dash|hyphen)\s+)"
_COMMON_TLDS = (
    "com|net|org|info|biz|eu|nl|be|de|fr|uk|lu|at|ch|es|it|pt|ie|dk|se|no|fi|pl|cz|io|co|me|"
    "email|online|shop|app|dev"
)
_WRITTEN_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@(?:[\w-]+\.)+[a-z]{2,24}\b", re.IGNORECASE)
_SPOKEN_EMAIL = re.compile(
    rf"\b(?P<local>[a-z0-9]+(?:{_LOCAL_JOIN}[a-z0-9]+)*)(?:\s+at\s+|\s*@\s*)"
    rf"{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,24}}\b",
    re.IGNORECASE,
)
# Words before " at example.com" that are prose, not a mailbox ("look at", "visit us at").
_NOT_MAILBOXES = frozenset(
    {
        *("look", "looking", "looked", "us", "me", "you", "him", "her", "them", "it", "we", "i"),
        *("here", "there", "available", "online", "work", "working", "works", "is", "are", "was"),
        *("were", "be", "been", "site", "website", "page", "visit", "find", "found"),
    }
)
_MAIL_CUE = re.compile(
    r"\b(?:e-?mail(?:ed)?|mail(?:ed)?)(?:\s+address(?:es)?)?"
    r"(?:[\s,:]+(?:is|me|at|to|on|via|it|was))*[\s,:]+"
    rf"(?P<target>(?:[\w'+-]+\s+){{0,3}}?{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}(?:{_COMMON_TLDS}))\b",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for match in _WRITTEN_EMAIL.finditer(text):
        yield match.span()
    for match in _SPOKEN_EMAIL.finditer(text):
        if match.group("local").lower() not in _NOT_MAILBOXES:
            yield match.span()
    for match in _MAIL_CUE.finditer(text):
        yield match.span("target")


# -- IBANs -----------------------------------------------------------------------------------

# ISO 13616 lengths of the SEPA countries and a few neighbours.
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
}  # fmt: skip
_IBAN_START = re.compile(r"\b([a-z]{2}) ?(\d{2})", re.IGNORECASE)


def iban_is_valid(iban: str) -> bool:
    """ISO 13616: the right length for the country and ``int(rearranged) % 97 == 1``."""
    compact = "".join(iban.split()).upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(match.group(1).upper())
        if length is None:
            continue
        chars: list[str] = []
        position = match.start()
        # Collect the IBAN's characters, allowing single spaces between groups.
        while len(chars) < length and position < len(text):
            char = text[position]
            if char.isalnum() and char.isascii():
                chars.append(char)
            elif char != " " or text[position - 1] == " ":
                break
            position += 1
        at_boundary = position == len(text) or not text[position].isalnum()
        if len(chars) == length and at_boundary and iban_is_valid("".join(chars)):
            yield match.start(), position


# -- licence plates --------------------------------------------------------------------------

# Dutch sidecodes 1-14 (X a letter, 9 a digit), Belgian formats; written with dashes.
_NL_SIDECODES = (
    *("XX-99-99", "99-99-XX", "99-XX-99", "XX-99-XX", "XX-XX-99", "99-XX-XX", "99-XXX-9"),
    *("9-XXX-99", "XX-999-X", "X-999-XX", "XXX-99-X", "X-99-XXX", "9-XX-999", "999-XX-9"),
)
_BE_FORMATS = ("N-XXX-999", "XXX-999", "999-XXX")  # N: a digit 1-9
_DASHED_PLATE = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(
        code.replace("X", "[A-Z]").replace("9", r"\d").replace("N", "[1-9]")
        for code in (*_NL_SIDECODES, *_BE_FORMATS)
    )
    + r")(?![\w-])"
)
# German: district (1-3 letters), 1-2 letters, 1-4 digits not starting with 0, optional E/H.
_DE_PLATE = re.compile(
    r"(?<![\w-])(?P<district>[A-ZÄÖÜ]{1,3})[-\s](?P<letters>[A-Z]{1,2})[-\s](?P<digits>[1-9]\d{0,3})[EH]?(?![\w-])"
)
# Capitalised words that look like a district in prose ("I AM 30", "VW ID 3", "BMW M 340").
_NOT_DISTRICTS = frozenset({"I", "OK", "TV", "PC", "US", "UK", "EU", "ID", "VW", "BMW", "IT", "AI", "CEO"})


def _plates(text: str) -> Iterator[tuple[int, int]]:
    for match in _DASHED_PLATE.finditer(text):
        yield match.span()
    for match in _DE_PLATE.finditer(text):
        district, letters, digits = match.group("district", "letters", "digits")
        if district not in _NOT_DISTRICTS and len(district) + len(letters) + len(digits) <= 8:
            yield match.span()


# -- the redactor ----------------------------------------------------------------------------


class Redactor:
    """Finds and replaces personal data of the enabled ``kinds``; see the module docstring."""

    def __init__(
        self, *, regions: Sequence[str] = DEFAULT_PHONE_REGIONS, kinds: Iterable[PiiKind] = tuple(PiiKind)
    ) -> None:
        self.kinds = frozenset(kinds)
        self._phones = _PhoneFinder(regions)

    def find(self, text: str) -> list[PiiMatch]:
        """Non-overlapping matches in text order; where candidates overlap the longest wins."""
        candidates: list[PiiMatch] = []
        finders = {
            PiiKind.EMAIL: _emails,
            PiiKind.IBAN: _ibans,
            PiiKind.PHONE: self._phones.find,
            PiiKind.PLATE: _plates,
        }
        for kind, finder in finders.items():
            if kind in self.kinds:
                candidates.extend(PiiMatch(start, end, kind) for start, end in finder(text) if end > start)
        priority = list(finders)
        candidates.sort(key=lambda m: (-(m.end - m.start), priority.index(m.kind), m.start))
        chosen: list[PiiMatch] = []
        for candidate in candidates:
            if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in chosen):
                chosen.append(candidate)
        return sorted(chosen, key=lambda m: m.start)

    def redact(self, text: str) -> str:
        """``text`` with every match replaced by its placeholder, e.g. ``[PHONE]``."""
        pieces, position = [], 0
        for match in self.find(text):
            pieces.append(text[position : match.start])
            pieces.append(match.kind.placeholder)
            position = match.end
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_segments(self, segments: Sequence[Segment]) -> tuple[Segment, ...]:
        """Redact one speaker's consecutive segments as one text, so that a number or address
        split over two segments is still found. The placeholder goes where the match starts; the
        rest of the match is removed from the following segments; a segment left empty is dropped."""
        if not segments:
            return ()
        bounds, position = [], 0
        for segment in segments:
            bounds.append((position, position + len(segment.text)))
            position += len(segment.text) + 1
        joined = " ".join(segment.text for segment in segments)
        matches = self.find(joined)
        redacted: list[Segment] = []
        for segment, (first, last) in zip(segments, bounds, strict=True):
            pieces, cursor = [], first
            for match in matches:
                if match.end <= first or match.start >= last:
                    continue
                if match.start > cursor:
                    pieces.append(joined[cursor : match.start])
                if match.start >= first:
                    pieces.append(match.kind.placeholder)
                cursor = max(cursor, min(match.end, last))
            pieces.append(joined[cursor:last])
            text = " ".join("".join(pieces).split())
            if text:
                redacted.append(dataclasses.replace(segment, text=text))
        return tuple(redacted)
