"""Context from the host page (``Loket.open({context})``, ``data-context-*``): data minimisation.

A page may tell the adviser what the visitor was looking at ("vehicle": "VW Golf 2019"), never who
they are. So a widget key lists the keys it accepts (none by default); every value is short plain
text, and a value that looks like an e-mail address or a phone number is refused, whatever its key:
the widget is anonymous by design and must not become a way to carry personal data into a call.
The check runs on the server when the widget session is created, so a page cannot skip it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from db.errors import InvalidInput

MAX_KEYS = 10
MAX_VALUE_CHARS = 100
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# Something@something.tld, also with spaces or "(at)" games left aside: an "@" between a word and
# a dotted domain is enough to refuse.
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_EMAIL_SPELLED = re.compile(
    r"\b[\w.+-]+\s*(\(at\)|\[at\]|\sat\s)\s*[\w-]+\s*(\.|\(dot\)|\[dot\]|\sdot\s)\s*\w+", re.I
)
# A run of digits with the separators phone numbers are written with; seven digits or more in one
# run is a phone number as far as we are concerned (a year, a quote number or a price is shorter).
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-/]*\d")
_MIN_PHONE_DIGITS = 7
# ...except an ISO date (an appointment day is context, not a phone number).
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def looks_personal(value: str) -> bool:
    """Whether ``value`` looks like an e-mail address or a phone number."""
    if _EMAIL.search(value) or _EMAIL_SPELLED.search(value):
        return True
    return any(
        sum(c.isdigit() for c in run.group()) >= _MIN_PHONE_DIGITS and not _ISO_DATE.fullmatch(run.group())
        for run in _DIGIT_RUN.finditer(value)
    )


def normalise_keys(keys: Iterable[str]) -> list[str]:
    """An allowlist as an admin sets it: lower-case keys, each ``[a-z][a-z0-9_-]{0,31}``, no repeats."""
    result: list[str] = []
    for raw in keys:
        key = raw.strip().lower()
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidInput(
                f"context key {raw!r}: use 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter",
                code="context_key_invalid",
            )
        if key not in result:
            result.append(key)
    if len(result) > MAX_KEYS:
        raise InvalidInput(f"a widget key allows at most {MAX_KEYS} context keys", code="context_too_many")
    return result


def checked_context(allowed: Iterable[str], context: Mapping[str, str]) -> dict[str, str]:
    """``context`` if every key is allowed and every value short, plain and not personal data.

    Refusals (422): ``context_too_many``, ``context_key_not_allowed``, ``context_value_invalid``
    (empty, not text, control characters), ``context_value_too_long``, ``context_value_personal``.
    Values are never echoed in a refusal (they may be the personal data being refused).
    """
    allowlist = set(allowed)
    if len(context) > MAX_KEYS:
        raise InvalidInput(f"at most {MAX_KEYS} context keys", code="context_too_many")
    checked: dict[str, str] = {}
    for key, raw in context.items():
        if key not in allowlist:
            raise InvalidInput(
                f"context key {key[:40]!r} is not allowed on this widget key", code="context_key_not_allowed"
            )
        if not isinstance(raw, str) or not raw.strip() or _CONTROL.search(raw):
            raise InvalidInput(f"context {key}: a value is one line of text", code="context_value_invalid")
        value = " ".join(raw.split())
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidInput(
                f"context {key}: values are limited to {MAX_VALUE_CHARS} characters",
                code="context_value_too_long",
            )
        if looks_personal(value):
            raise InvalidInput(
                f"context {key}: looks like an e-mail address or a phone number (not carried by the widget)",
                code="context_value_personal",
            )
        checked[key] = value
    return checked
