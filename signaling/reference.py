"""Reference codes a visitor keeps to ask for export or erasure of their call.

Ten symbols of Crockford's base32 (no I, L, O, U: nothing to misread), 50 random bits:
guessing one is hopeless under the privacy endpoint's rate limit. Shown as ``XXXXX-XXXXX``.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10

# Crockford's decoding rules: the letters people confuse map to the digit they resemble.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_reference() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{symbols[:5]}-{symbols[5:]}"


def normalise_reference(text: str) -> str | None:
    """The canonical form of what a visitor typed, or None if it cannot be a reference."""
    symbols = text.upper().replace("-", "").replace(" ", "").translate(_CONFUSABLE)
    if len(symbols) != LENGTH or any(symbol not in ALPHABET for symbol in symbols):
        return None
    return f"{symbols[:5]}-{symbols[5:]}"
