"""socket.io packets whose JSON is parsed with limits, so a hostile packet costs one log line.

python-socketio parses every text frame with ``json.loads``. Two kinds of payload made that a
traceback in the log (and no answer to the client): nesting deeper than Python's recursion limit
(``[[[[...]]]]``: RecursionError) and integers of thousands of digits (ValueError from Python's
int-parsing limit, and CPU spent converting them before that limit existed). Neither is anything a
Loket client sends: payloads are objects a few levels deep with small numbers.

``GuardedPacket`` (given to ``socketio.AsyncServer(serializer=...)``) parses with those limits and
turns any undecodable packet into the event ``MALFORMED_EVENT`` with the reason, keeping the
packet's namespace and ack id: the namespace answers it like any refused event,
``{ok: false, error: {code: "malformed_packet", ...}}``, and the connection stays open. One warning
line is logged per packet, without the payload (it may be large, and is the client's data).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from socketio import packet

logger = logging.getLogger(__name__)

MALFORMED_EVENT = "packet:malformed"
# Deeper than any payload of the contract (an ICE candidate or a chat line is 2-3 levels).
MAX_DEPTH = 32
# 2^64 has 20 digits; JavaScript numbers are exact only to 2^53 (16 digits) anyway.
MAX_INT_DIGITS = 20


class MalformedPacket(ValueError):
    """A packet payload refused by the limits above (or not JSON at all)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedPacket(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise MalformedPacket(f"{name} is not JSON")


def _too_deep(value: Any, depth: int = 1) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_too_deep(item, depth + 1) for item in value)
    return False


class GuardedJson:
    """The ``json`` of ``GuardedPacket``: ``json.dumps`` as it is, ``loads`` with limits."""

    @staticmethod
    def dumps(value: Any, **options: Any) -> str:
        return json.dumps(value, **options)

    @staticmethod
    def loads(text: str | bytes, **options: Any) -> Any:
        try:
            value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant, **options)
        except RecursionError as exc:
            raise MalformedPacket(f"nested more than {MAX_DEPTH} levels") from exc
        except MalformedPacket:
            raise
        except ValueError as exc:
            raise MalformedPacket("not valid JSON") from exc
        if _too_deep(value):
            raise MalformedPacket(f"nested more than {MAX_DEPTH} levels")
        return value


class GuardedPacket(packet.Packet):  # type: ignore[misc]  # python-socketio has no type hints
    """A socket.io packet parsed with ``GuardedJson``; an undecodable one becomes ``MALFORMED_EVENT``."""

    json = GuardedJson
    packet_type: Any
    namespace: str | None
    data: Any
    attachment_count: int

    def decode(self, encoded_packet: Any) -> int:
        try:
            attachments: int = super().decode(encoded_packet)
            return attachments
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, MalformedPacket) else "not a socket.io packet"
            logger.warning("refused a malformed socket.io packet on %s: %s", self.namespace or "/", reason)
            self.attachment_count = 0
            if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
                self.packet_type = packet.EVENT
                self.data = [MALFORMED_EVENT, {"reason": reason}]
            else:
                self.data = None
            return 0
