"""IBANs: country code, check digits and the country's exact length (spaces allowed), accepted
only when the ISO 13616 mod-97 check holds."""

from __future__ import annotations

import re
from collections.abc import Iterator

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


def find_ibans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are valid IBANs."""
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
