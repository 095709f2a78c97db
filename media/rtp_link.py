"""``RtpLink``: what a leg's RTP streams need of the session that owns them (``RtpSession``).

A protocol, so that ``media.rtp_inbound`` and ``media.rtp_outbound`` need not import the
session that imports them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol


class RtpLink(Protocol):
    """The leg's side of its streams: its clock, randomness, CNAME and connection, sending
    (encrypted for the party), and counting what is dropped."""

    clock: Callable[[], float]
    rng: random.Random
    cname: str

    @property
    def connected(self) -> bool: ...

    def send(self, data: bytes) -> bool: ...

    def send_rewritten(self, data: bytes, second: int, sequence: int, timestamp: int, ssrc: int) -> bool:
        """Send ``data`` with another second header byte, sequence number, timestamp and SSRC."""
        ...

    def send_rtcp(self, data: bytes) -> bool: ...

    def drop(self, reason: str) -> None: ...

    def inbound_ssrcs(self) -> list[int]:
        """The SSRCs the party sends on now (a REMB names them all)."""
        ...
