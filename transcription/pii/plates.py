"""Licence plates of the countries Loket's visitors drive from, as written (Whisper writes a
dictated plate in capitals once it recognises one).

- Netherlands: the fourteen sidecodes ("12-ABC-3", "AB-123-C"), with dashes.
- Belgium: "1-ABC-123", "ABC-123", "123-ABC", with dashes.
- France: SIV "AB-123-CD" (since 2009, dashes or spaces) and the older FNI "1234 AB 56" (the
  last group a département: 01-95, 2A, 2B, 971-976).
- Germany: district (1-3 letters), 1-2 letters, 1-4 digits, optional E/H: "B-AB 1234".
- Austria: district (1-2 letters), then digits and letters: "W 12345 X", "GU 123 AB", "L-1 ABC".
- Luxembourg: two letters and four digits: "AB 1234".
- Switzerland: canton (ZH, GE, VD, ...) and up to six digits: "ZH 123456".

Capitals are required, and dashes for NL and BE, so prose, model names ("VW ID 3", "BMW M 340"),
standards ("ISO 9001") and dates survive; capitalised words that look like a district in prose
are never one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Dutch sidecodes 1-14 (X a letter, 9 a digit), Belgian formats, French SIV; written with dashes.
_NL_SIDECODES = (
    *("XX-99-99", "99-99-XX", "99-XX-99", "XX-99-XX", "XX-XX-99", "99-XX-XX", "99-XXX-9"),
    *("9-XXX-99", "XX-999-X", "X-999-XX", "XXX-99-X", "X-99-XXX", "9-XX-999", "999-XX-9"),
)
_BE_FORMATS = ("N-XXX-999", "XXX-999", "999-XXX")  # N: a digit 1-9
_DASHED = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(
        code.replace("X", "[A-Z]").replace("9", r"\d").replace("N", "[1-9]")
        for code in (*_NL_SIDECODES, *_BE_FORMATS)
    )
    + r")(?![\w-])"
)
_SEP = r"[-\s]"
# France: SIV with dashes or spaces; FNI ending in a département.
_FR_SIV = re.compile(rf"(?<![\w-])[A-Z]{{2}}{_SEP}\d{{3}}{_SEP}[A-Z]{{2}}(?![\w-])")
_FR_FNI = re.compile(
    rf"(?<![\w-])\d{{1,4}}{_SEP}[A-Z]{{1,3}}{_SEP}(?:0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-6])(?![\w-])"
)
# Germany: district, 1-2 letters, 1-4 digits not starting with 0, optional E/H.
_DE = re.compile(
    rf"(?<![\w-])(?P<district>[A-ZÄÖÜ]{{1,3}}){_SEP}(?P<letters>[A-Z]{{1,2}}){_SEP}"
    r"(?P<digits>[1-9]\d{0,3})[EH]?(?![\w-])"
)
# Austria: district, then digits then letters (or a chosen word then digits).
_AT = re.compile(
    rf"(?<![\w-])(?P<district>[A-Z]{{1,2}}){_SEP}"
    r"(?P<rest>[1-9]\d{0,4}\s?[A-Z]{1,3}|[A-Z]{1,5}\s?[1-9]\d{0,2})(?![\w-])"
)
# Luxembourg: two letters, four digits.
_LU = re.compile(r"(?<![\w-])(?P<district>[A-Z]{2})\s?\d{4}(?![\w-])")
_CANTONS = "AG|AI|AR|BE|BL|BS|FR|GE|GL|GR|JU|LU|NE|NW|OW|SG|SH|SO|SZ|TG|TI|UR|VD|VS|ZG|ZH"
_CH = re.compile(rf"(?<![\w-])(?:{_CANTONS}){_SEP}?[1-9]\d{{1,5}}(?![\w-])")
# Capitalised words and abbreviations that look like a district or prefix in prose.
_NOT_DISTRICTS = frozenset(
    {
        *("I", "A", "OK", "TV", "PC", "US", "UK", "EU", "ID", "VW", "BMW", "IT", "AI", "CEO", "AM", "PM"),
        *("NR", "NO", "ISO", "EN", "DIN", "CD", "DVD", "MP", "GPS", "KM", "KG", "PS", "KW", "CO"),
    }
)


def find_plates(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are licence plates."""
    for pattern in (_DASHED, _FR_SIV, _FR_FNI, _CH):
        for match in pattern.finditer(text):
            yield match.span()
    for match in _DE.finditer(text):
        district, letters, digits = match.group("district", "letters", "digits")
        if district not in _NOT_DISTRICTS and len(district) + len(letters) + len(digits) <= 8:
            yield match.span()
    for match in _AT.finditer(text):
        rest = match.group("rest").replace(" ", "")
        if match.group("district") not in _NOT_DISTRICTS and 2 <= len(rest) <= 6:
            yield match.span()
    for match in _LU.finditer(text):
        if match.group("district") not in _NOT_DISTRICTS:
            yield match.span()
