"""RTP headers as bytes: read the fields a forwarder needs, and write them for another leg.

Pure functions on ``bytes`` with ``struct`` (no aiortc ``RtpPacket`` objects: building one
per packet costs more than the rest of the forwarding path together).

- :func:`parse_rtp` reads the fixed header (RFC 3550 section 5.1), the CSRC list, the header
  extension block (RFC 8285) and the padding, and refuses what is malformed
  (:class:`MalformedPacket`: truncated, not version 2, bad padding).
- :func:`rewrite_rtp` writes another payload type, sequence number, timestamp and SSRC, and
  optionally another extension block; the payload is copied as it is.
- :class:`ExtensionRewriter` maps header-extension ids from one leg's negotiation to the
  other's by URI, drops those the other leg did not negotiate, and writes the other leg's MID
  (RFC 8843 section 15) into ``sdes:mid``.
- :class:`StreamMapper` maps one upstream stream's sequence numbers and timestamps onto the
  outbound stream, continuous across a change of upstream (a replaced leg, a new SSRC).
- :func:`unwrap_rtx` (:func:`unwrap_rtx_fields`) / :func:`wrap_rtx`: retransmission packets
  (RFC 4588 section 4).
"""

from __future__ import annotations

import random
import struct
from typing import Final, NamedTuple

_FIXED: Final = struct.Struct("!BBHII")
_U16: Final = struct.Struct("!H")
_ONE_BYTE_PROFILE: Final = 0xBEDE  # RFC 8285 section 4.2
_TWO_BYTE_PROFILE: Final = 0x1000  # RFC 8285 section 4.3 (low 4 bits: appbits)
MID_URI: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class MalformedPacket(ValueError):
    """An RTP or RTCP packet that cannot be read; ``reason`` names why (a metric label)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class RtpFields(NamedTuple):
    """What :func:`parse_rtp` read. Offsets index the packet's bytes: the extension block (its
    4-byte header included) is ``data[csrc_end:ext_end]``, empty when there is none; the
    payload is ``data[ext_end:payload_end]`` (padding excluded)."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    csrc_end: int
    ext_end: int
    payload_end: int


def parse_rtp(data: bytes) -> RtpFields:
    """Read an RTP packet's header; :class:`MalformedPacket` when it is not one."""
    size = len(data)
    if size < 12:
        raise MalformedPacket("truncated", f"{size} bytes")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != 2:
        raise MalformedPacket("bad_version", f"version {first >> 6}")
    position = 12 + 4 * (first & 0x0F)
    ext_end = position
    if first & 0x10:
        if position + 4 > size:
            raise MalformedPacket("truncated", "extension header")
        ext_end = position + 4 + 4 * _U16.unpack_from(data, position + 2)[0]
    if ext_end > size:
        raise MalformedPacket("truncated", "header longer than the packet")
    payload_end = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or ext_end + padding > size:
            raise MalformedPacket("bad_padding", f"{padding} bytes")
        payload_end = size - padding
    return RtpFields(
        second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, position, ext_end, payload_end
    )


def rewrite_rtp(
    data: bytes,
    fields: RtpFields,
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes | None = None,
) -> bytes:
    """``data`` with another payload type, sequence number, timestamp and SSRC.

    ``extensions`` replaces the extension block (its 4-byte header included; ``b""``: none);
    ``None`` keeps it as it is. CSRCs, marker, padding and payload are kept.
    """
    first = data[0]
    second = (data[1] & 0x80) | payload_type
    if extensions is None:
        return _FIXED.pack(first, second, sequence, timestamp, ssrc) + data[12:]
    first = (first | 0x10) if extensions else (first & ~0x10)
    head = _FIXED.pack(first, second, sequence, timestamp, ssrc)
    return b"".join((head, data[12 : fields.csrc_end], extensions, data[fields.ext_end :]))


def rewrite_header(data: bytes, second: int, sequence: int, timestamp: int, ssrc: int) -> bytes:
    """``data`` with another second byte (marker and payload type), sequence number,
    timestamp and SSRC; the rest as it is."""
    return _FIXED.pack(data[0], second, sequence, timestamp, ssrc) + data[12:]


def extension_elements(block: bytes) -> list[tuple[int, bytes]]:
    """The ``(id, value)`` elements of an extension block (RFC 8285; one- or two-byte form).

    Raises :class:`MalformedPacket` when an element runs past the block; an unknown profile
    gives no elements (RFC 3550 section 5.3.1 extensions are not RFC 8285 ones).
    """
    if len(block) < 4:
        return []
    profile = _U16.unpack_from(block)[0]
    elements: list[tuple[int, bytes]] = []
    position, end = 4, len(block)
    if profile == _ONE_BYTE_PROFILE:
        while position < end:
            byte = block[position]
            if byte == 0:  # padding
                position += 1
                continue
            ident, length = byte >> 4, (byte & 0x0F) + 1
            if ident == 15:  # reserved: stop reading (RFC 8285 section 4.2)
                break
            if position + 1 + length > end:
                raise MalformedPacket("bad_extension", "element past the block")
            elements.append((ident, block[position + 1 : position + 1 + length]))
            position += 1 + length
    elif profile & 0xFFF0 == _TWO_BYTE_PROFILE:
        while position < end:
            ident = block[position]
            if ident == 0:
                position += 1
                continue
            if position + 2 > end:
                raise MalformedPacket("bad_extension", "element header past the block")
            length = block[position + 1]
            if position + 2 + length > end:
                raise MalformedPacket("bad_extension", "element past the block")
            elements.append((ident, block[position + 2 : position + 2 + length]))
            position += 2 + length
    return elements


def extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """An extension block holding ``elements`` (``b""`` when there are none), in the one-byte
    form when every id is 1..14 and every value 1..16 bytes long, else the two-byte form."""
    if not elements:
        return b""
    if all(0 < ident < 15 and 0 < len(value) <= 16 for ident, value in elements):
        profile = _ONE_BYTE_PROFILE
        body = b"".join(bytes(((ident << 4) | (len(value) - 1),)) + value for ident, value in elements)
    else:
        profile = _TWO_BYTE_PROFILE
        body = b"".join(bytes((ident, len(value))) + value for ident, value in elements)
    body += b"\x00" * (-len(body) % 4)
    return _U16.pack(profile) + _U16.pack(len(body) // 4) + body


class ExtensionRewriter:
    """Header extensions of packets from leg A, for leg B.

    ``source`` and ``target`` map each leg's negotiated extension ids to their URIs (from the
    two SDP negotiations, RFC 8285 section 5). An element whose URI B negotiated gets B's id;
    the others are dropped. ``sdes:mid`` gets ``target_mid`` (each leg's m-line has its own
    MID). When nothing would change (the same ids, the same MIDs), :meth:`rewrite` returns
    ``None`` without looking at the packet: the block is forwarded as it is.
    """

    def __init__(
        self,
        source: dict[int, str],
        target: dict[int, str],
        *,
        source_mid: str | None = None,
        target_mid: str | None = None,
    ) -> None:
        by_uri = {uri: ident for ident, uri in target.items()}
        self._ids = {ident: by_uri[uri] for ident, uri in source.items() if uri in by_uri}
        self._mid_id = by_uri.get(MID_URI)
        self._mid = target_mid.encode() if target_mid else None
        self.identity = all(self._ids.get(ident) == ident for ident in source) and (
            self._mid_id is None or source_mid == target_mid
        )

    def rewrite(self, data: bytes, fields: RtpFields) -> bytes | None:
        """The new extension block for this packet (``b""``: none), or ``None``: keep it."""
        if fields.ext_end == fields.csrc_end:
            return None
        if self.identity:
            return None
        elements = []
        for ident, value in extension_elements(data[fields.csrc_end : fields.ext_end]):
            target = self._ids.get(ident)
            if target is None:
                continue
            if target == self._mid_id and self._mid is not None:
                value = self._mid
            elements.append((target, value))
        return extension_block(elements)


class StreamMapper:
    """Sequence numbers and timestamps of the outbound stream, from whichever upstream stream.

    Outbound numbers are the upstream ones plus an offset (so a retransmitted or reordered
    packet lands on the number its original had). When the upstream stream changes (another
    SSRC: the sending party's leg was replaced, or its sender restarted) or :meth:`restart`
    is called (forwarding resumes at a keyframe), the offsets are chosen again so that the
    outbound stream goes on where it stopped: the next sequence number, and the timestamp
    advanced by the wall-clock time since the last packet (at least one tick). A receiver
    sees one continuous stream (RFC 3550 section 5.1 leaves the start values random: so are
    ours, taken from ``rng``).
    """

    def __init__(self, clock_rate: int, *, rng: random.Random | None = None) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.clock_rate = clock_rate
        rng = rng or random.SystemRandom()
        self.source_ssrc: int | None = None
        self.highest_sequence = rng.getrandbits(16)
        self.highest_timestamp = rng.getrandbits(32)
        self.highest_at: float | None = None  # None: nothing sent yet
        self.sequence_offset = 0
        self.timestamp_offset = 0

    def restart(self) -> None:
        """Choose the offsets again at the next packet."""
        self.source_ssrc = None

    def map(self, ssrc: int, sequence: int, timestamp: int, now: float) -> tuple[int, int]:
        """The outbound ``(sequence, timestamp)`` of an upstream packet arriving at ``now``."""
        if ssrc != self.source_ssrc:
            self._rebase(ssrc, sequence, timestamp, now)
        out_sequence = (sequence + self.sequence_offset) & 0xFFFF
        out_timestamp = (timestamp + self.timestamp_offset) & 0xFFFFFFFF
        if (out_sequence - self.highest_sequence) & 0xFFFF < 0x8000:
            self.highest_sequence, self.highest_timestamp, self.highest_at = out_sequence, out_timestamp, now
        return out_sequence, out_timestamp

    def map_timestamp(self, ssrc: int, timestamp: int) -> int | None:
        """The outbound timestamp of an upstream one (for sender reports); ``None`` when
        ``ssrc`` is not the stream being forwarded now."""
        if ssrc != self.source_ssrc:
            return None
        return (timestamp + self.timestamp_offset) & 0xFFFFFFFF

    def _rebase(self, ssrc: int, sequence: int, timestamp: int, now: float) -> None:
        next_sequence = (self.highest_sequence + 1) & 0xFFFF
        if self.highest_at is None:
            next_timestamp = self.highest_timestamp
        else:
            ticks = max(1, round((now - self.highest_at) * self.clock_rate))
            next_timestamp = (self.highest_timestamp + ticks) & 0xFFFFFFFF
        self.source_ssrc = ssrc
        self.sequence_offset = (next_sequence - sequence) & 0xFFFF
        self.timestamp_offset = (next_timestamp - timestamp) & 0xFFFFFFFF
        # The packet about to be mapped is the new highest (not behind the old one).
        self.highest_sequence = (next_sequence - 1) & 0xFFFF


def unwrap_rtx(data: bytes, fields: RtpFields, *, payload_type: int, ssrc: int) -> bytes:
    """The original packet inside a retransmission (RFC 4588 section 4)
    (:func:`unwrap_rtx_fields` gives its fields as well)."""
    return unwrap_rtx_fields(data, fields, payload_type=payload_type, ssrc=ssrc)[0]


def unwrap_rtx_fields(
    data: bytes, fields: RtpFields, *, payload_type: int, ssrc: int
) -> tuple[bytes, RtpFields]:
    """The original packet inside a retransmission (RFC 4588 section 4), and its fields, so
    that it need not be parsed again: its sequence number is the payload's first two bytes; payload type and
    SSRC are those of the original stream. Padding is removed."""
    if fields.payload_end - fields.ext_end < 2:
        raise MalformedPacket("truncated", "RTX payload without its original sequence number")
    original = _U16.unpack_from(data, fields.ext_end)[0]
    first = data[0] & ~0x20  # no padding in the result
    second = (data[1] & 0x80) | payload_type
    head = _FIXED.pack(first, second, original, fields.timestamp, ssrc)
    packet = b"".join((head, data[12 : fields.ext_end], data[fields.ext_end + 2 : fields.payload_end]))
    unwrapped = RtpFields(
        payload_type,
        fields.marker,
        original,
        fields.timestamp,
        ssrc,
        fields.csrc_end,
        fields.ext_end,
        len(packet),
    )
    return packet, unwrapped


def wrap_rtx(data: bytes, fields: RtpFields, *, payload_type: int, sequence: int, ssrc: int) -> bytes:
    """A retransmission of ``data`` on the RTX stream (RFC 4588 section 4)."""
    first = data[0] & ~0x20
    second = (data[1] & 0x80) | payload_type
    head = _FIXED.pack(first, second, sequence, fields.timestamp, ssrc)
    return b"".join(
        (
            head,
            data[12 : fields.ext_end],
            _U16.pack(fields.sequence),
            data[fields.ext_end : fields.payload_end],
        )
    )
