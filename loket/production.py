"""What production mode refuses to start with, beyond a missing secret (``loket.settings``), and
what development mode warns about.

- A secret whose characters carry under 128 bits: the signing key (``LOKET_SECRET_KEY``), and
  every other shared secret an attacker could use if guessed: ``LOKET_TURN_SECRET`` (mints TURN
  credentials), ``LOKET_MEDIA_SECRET`` (signs the internal channel to media nodes; checked when
  set). There is no metrics token: ``/metrics`` is served only on its own internal port. Length alone says
  little: ``"s" * 48`` is 48 characters and no secret at all. The estimate is the smaller of two:
  the string's empirical (Shannon) entropy per character times its length (0 bits for one repeated
  character, 32 for ``"ab" * 16``), and the bits left after zlib compresses it (which catches
  repeated patterns such as ``"0123456789" * 4``, 133 bits by Shannon, 104 compressed). A
  ``secrets.token_urlsafe(32)`` rates about 210. It is a floor against placeholders and patterns,
  not a proof of randomness: a passphrase can pass it.
- A master key that is all zeros (or any other key of under 8 distinct bytes: a random 32-byte key
  has about 30; the chance of fewer than 8 is below 10^-20).
- A public URL that is not ``https://``: tokens, TURN credentials and recordings' links would cross
  the network in clear, and browsers give camera access only to secure origins.
- ``--demo`` (staff with published passwords), checked by ``loket serve``.

Development mode binding an address other than loopback gets a warning (``bind_warning``): its
secrets are generated per process and its database is a file, fine on a laptop, not on a network.
"""

from __future__ import annotations

import ipaddress
import math
import zlib
from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlsplit

MIN_SECRET_BITS = 128
MIN_MASTER_KEY_DISTINCT_BYTES = 8
# zlib's header and checksum: what compressing nothing costs.
_ZLIB_OVERHEAD_BYTES = 8


def estimated_bits(secret: str) -> float:
    """How many bits ``secret`` carries at most: its characters' Shannon entropy times its length,
    or what zlib cannot squeeze out of it, whichever is less."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_character = -sum(n / total * math.log2(n / total) for n in counts.values())
    compressed = 8 * max(0, len(zlib.compress(secret.encode(), 9)) - _ZLIB_OVERHEAD_BYTES)
    return max(0.0, min(per_character * total, compressed))


def refusals(
    *, secrets: Mapping[str, str | None], master_key: bytes | None, public_url: str | None
) -> list[str]:
    """Why these production settings are unsafe, one sentence each (empty: they are fine).
    ``secrets`` maps each shared secret's variable name (``LOKET_SECRET_KEY``) to its value."""
    problems: list[str] = []
    for name, secret in secrets.items():
        if secret is not None and estimated_bits(secret) < MIN_SECRET_BITS:
            problems.append(
                f"{name} has too little entropy (about {estimated_bits(secret):.0f} bits, at least "
                f"{MIN_SECRET_BITS} needed): generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    if master_key is not None and len(set(master_key)) < MIN_MASTER_KEY_DISTINCT_BYTES:
        kind = "all zeros" if not any(master_key) else "not random"
        problems.append(f"LOKET_MASTER_KEY is {kind}: generate 32 random bytes (README, Configuration)")
    if public_url is not None and urlsplit(public_url).scheme != "https":
        problems.append("LOKET_PUBLIC_URL must be https:// in production")
    return problems


def demo_refusal(*, demo: bool, production: bool) -> str | None:
    if demo and production:
        return (
            "--demo creates staff with published passwords and is refused in production "
            "(LOKET_ENV=production)"
        )
    return None


def bind_warning(host: str, *, production: bool) -> str | None:
    """A warning when development mode listens beyond this machine, else None."""
    if production or _is_loopback(host):
        return None
    return (
        f"development mode (LOKET_ENV unset) is listening on {host}, beyond this machine: its secrets "
        "are generated per process and nothing production checks is checked. Use --host 127.0.0.1, "
        "or LOKET_ENV=production with real secrets"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
