"""RTCP packets as bytes: read a compound packet, write the ones a forwarding server sends.

Pure functions with ``struct``. Read (:func:`parse_rtcp`): sender and receiver reports
(RFC 3550 sections 6.4.1, 6.4.2), BYE, generic NACK (RFC 4585 section 6.2.1), PLI (section
6.3.1), FIR (RFC 5104 section 4.3.1) and REMB (draft-alvestrand-rmcat-remb); anything else
is skipped by its length. A compound packet that is truncated, not version 2, or whose
lengths do not add up raises :class:`~media.rtp_header.MalformedPacket`. Written: the same,
plus SDES CNAME (what a compound report must carry, RFC 3550 section 6.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from media.rtp_header import MalformedPacket

SR: Final = 200
RR: Final = 201
SDES: Final = 202
BYE: Final = 203
RTPFB: Final = 205
PSFB: Final = 206
_FMT_NACK: Final = 1
_FMT_PLI: Final = 1
_FMT_FIR: Final = 4
_FMT_AFB: Final = 15

_HEADER: Final = struct.Struct("!BBH")
_U32: Final = struct.Struct("!I")
_SENDER_INFO: Final = struct.Struct("!IQIII")  # ssrc, ntp, rtp timestamp, packets, octets
_BLOCK: Final = struct.Struct("!IIIIII")  # RFC 3550 report block, the loss word split below
_FEEDBACK: Final = struct.Struct("!II")  # sender ssrc, media ssrc


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 section 6.4.1)."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_timestamp: int
    packets: int
    octets: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: list[int]


@dataclass(frozen=True, slots=True)
class Nack:
    sender_ssrc: int
    media_ssrc: int
    lost: list[int]


@dataclass(frozen=True, slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True, slots=True)
class Fir:
    sender_ssrc: int
    media_ssrcs: list[int]


@dataclass(frozen=True, slots=True)
class Remb:
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int]


RtcpPacket = SenderReport | ReceiverReport | Bye | Nack | Pli | Fir | Remb


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """The packets of a compound RTCP packet that a forwarder acts on, in order."""
    packets: list[RtcpPacket] = []
    position, size = 0, len(data)
    if size < 4:
        raise MalformedPacket("truncated", f"{size} bytes of RTCP")
    while position < size:
        if position + 4 > size:
            raise MalformedPacket("truncated", "RTCP header")
        first, packet_type, words = _HEADER.unpack_from(data, position)
        if first >> 6 != 2:
            raise MalformedPacket("bad_version", f"RTCP version {first >> 6}")
        end = position + 4 + 4 * words
        if end > size:
            raise MalformedPacket("truncated", "RTCP packet longer than the datagram")
        if first & 0x20:  # padding: only the last packet may have it (RFC 3550 section 6.4.1)
            padding = data[end - 1]
            if end != size or padding == 0 or padding > 4 * words:
                raise MalformedPacket("bad_padding", "RTCP padding")
            body_end = end - padding
        else:
            body_end = end
        count = first & 0x1F
        parsed = _parse_one(data, packet_type, count, position + 4, body_end)
        if parsed is not None:
            packets.append(parsed)
        position = end
    return packets


def _blocks(data: bytes, start: int, end: int, count: int) -> list[ReportBlock]:
    if start + 24 * count > end:
        raise MalformedPacket("truncated", "report blocks")
    blocks = []
    for index in range(count):
        ssrc, loss, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, start + 24 * index)
        lost = loss & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24  # signed 24 bits
        blocks.append(ReportBlock(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr))
    return blocks


def _parse_one(data: bytes, packet_type: int, count: int, start: int, end: int) -> RtcpPacket | None:
    if packet_type == SR:
        if start + 24 > end:
            raise MalformedPacket("truncated", "sender report")
        ssrc, ntp, rtp_timestamp, packets, octets = _SENDER_INFO.unpack_from(data, start)
        return SenderReport(ssrc, ntp, rtp_timestamp, packets, octets, _blocks(data, start + 24, end, count))
    if packet_type == RR:
        if start + 4 > end:
            raise MalformedPacket("truncated", "receiver report")
        return ReceiverReport(_U32.unpack_from(data, start)[0], _blocks(data, start + 4, end, count))
    if packet_type == BYE:
        if start + 4 * count > end:
            raise MalformedPacket("truncated", "BYE")
        return Bye([_U32.unpack_from(data, start + 4 * i)[0] for i in range(count)])
    if packet_type not in (RTPFB, PSFB):
        return None
    if start + 8 > end:
        raise MalformedPacket("truncated", "feedback header")
    sender, media = _FEEDBACK.unpack_from(data, start)
    fci, fci_end = start + 8, end
    if packet_type == RTPFB and count == _FMT_NACK:
        lost: list[int] = []
        for offset in range(fci, fci_end - 3, 4):
            pid, blp = struct.unpack_from("!HH", data, offset)
            lost.append(pid)
            lost.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)
        return Nack(sender, media, lost)
    if packet_type == PSFB and count == _FMT_PLI:
        return Pli(sender, media)
    if packet_type == PSFB and count == _FMT_FIR:
        return Fir(sender, [_U32.unpack_from(data, o)[0] for o in range(fci, fci_end - 7, 8)])
    if packet_type == PSFB and count == _FMT_AFB and data[fci : fci + 4] == b"REMB":
        if fci + 8 > fci_end:
            raise MalformedPacket("truncated", "REMB")
        number, word = data[fci + 4], _U32.unpack_from(data, fci + 4)[0]
        exponent, mantissa = (word >> 18) & 0x3F, word & 0x3FFFF
        if fci + 8 + 4 * number > fci_end:
            raise MalformedPacket("truncated", "REMB SSRCs")
        ssrcs = [_U32.unpack_from(data, fci + 8 + 4 * i)[0] for i in range(number)]
        return Remb(sender, mantissa << exponent, ssrcs)
    return None


# --- writing ---------------------------------------------------------------------------------


def _packet(count: int, packet_type: int, body: bytes) -> bytes:
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def _block(block: ReportBlock) -> bytes:
    lost = max(-(1 << 23), min(block.packets_lost, (1 << 23) - 1)) & 0xFFFFFF
    return _BLOCK.pack(
        block.ssrc,
        (block.fraction_lost & 0xFF) << 24 | lost,
        block.highest_sequence & 0xFFFFFFFF,
        block.jitter & 0xFFFFFFFF,
        block.lsr & 0xFFFFFFFF,
        block.dlsr & 0xFFFFFFFF,
    )


def sender_report(report: SenderReport) -> bytes:
    body = _SENDER_INFO.pack(
        report.ssrc,
        report.ntp & 0xFFFFFFFFFFFFFFFF,
        report.rtp_timestamp & 0xFFFFFFFF,
        report.packets & 0xFFFFFFFF,
        report.octets & 0xFFFFFFFF,
    )
    return _packet(len(report.reports), SR, body + b"".join(_block(b) for b in report.reports))


def receiver_report(report: ReceiverReport) -> bytes:
    body = _U32.pack(report.ssrc) + b"".join(_block(b) for b in report.reports)
    return _packet(len(report.reports), RR, body)


def sdes_cname(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk: ``ssrc``'s CNAME (RFC 3550 section 6.5.1)."""
    text = cname.encode()[:255]
    chunk = _U32.pack(ssrc) + bytes((1, len(text))) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _packet(1, SDES, chunk)


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return _packet(_FMT_PLI, PSFB, _FEEDBACK.pack(sender_ssrc, media_ssrc))


def fir(sender_ssrc: int, media_ssrc: int, sequence: int) -> bytes:
    # RFC 5104 section 4.3.1.1: the media SSRC field is 0; the FCI names the stream.
    return _packet(
        _FMT_FIR, PSFB, _FEEDBACK.pack(sender_ssrc, 0) + struct.pack("!IB3x", media_ssrc, sequence & 0xFF)
    )


def nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """A generic NACK for the sequence numbers ``lost`` (each FCI: a PID and the 16 after it)."""
    fcis = []
    pending = sorted(set(lost))
    while pending:
        pid = pending.pop(0)
        blp = 0
        for sequence in list(pending):
            distance = (sequence - pid - 1) & 0xFFFF
            if distance < 16:
                blp |= 1 << distance
                pending.remove(sequence)
        fcis.append(struct.pack("!HH", pid, blp))
    return _packet(_FMT_NACK, RTPFB, _FEEDBACK.pack(sender_ssrc, media_ssrc) + b"".join(fcis))


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    """Receiver estimated maximum bitrate for ``ssrcs`` (6-bit exponent, 18-bit mantissa)."""
    exponent, mantissa = 0, max(0, bitrate)
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exponent += 1
    fci = b"REMB" + _U32.pack(len(ssrcs) << 24 | exponent << 18 | mantissa)
    fci += b"".join(_U32.pack(s) for s in ssrcs)
    return _packet(_FMT_AFB, PSFB, _FEEDBACK.pack(sender_ssrc, 0) + fci)


def ntp_now(unix_time: float) -> int:
    """A 64-bit NTP timestamp (RFC 3550 section 4) for a Unix time in seconds."""
    seconds = unix_time + 2_208_988_800
    return int(seconds) << 32 | int((seconds % 1) * (1 << 32))
