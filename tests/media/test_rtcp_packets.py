"""RTCP packets as bytes: what the relay reads and writes."""

from __future__ import annotations

import struct

import pytest

from media import rtcp_packets as rtcp
from media.rtp_header import MalformedPacket


def test_a_compound_report_reads_back() -> None:
    block = rtcp.ReportBlock(
        ssrc=7, fraction_lost=12, packets_lost=-3, highest_sequence=70000, jitter=5, lsr=9, dlsr=10
    )
    data = (
        rtcp.sender_report(rtcp.SenderReport(1, 0x0123456789ABCDEF, 90000, 10, 1000, [block]))
        + rtcp.receiver_report(rtcp.ReceiverReport(2, [block]))
        + rtcp.sdes_cname(1, "loket")
    )
    packets = rtcp.parse_rtcp(data)
    assert packets == [
        rtcp.SenderReport(1, 0x0123456789ABCDEF, 90000, 10, 1000, [block]),
        rtcp.ReceiverReport(2, [block]),
    ]


def test_feedback_packets_read_back() -> None:
    lost = [65530, 65531, 65535, 0, 3, 200]  # across the wrap, and far apart
    data = (
        rtcp.pli(1, 2) + rtcp.fir(1, 3, sequence=4) + rtcp.nack(1, 5, lost) + rtcp.remb(1, 1_234_567, [5, 6])
    )
    pli, fir, nack, remb = rtcp.parse_rtcp(data)
    assert pli == rtcp.Pli(1, 2)
    assert fir == rtcp.Fir(1, [3])
    assert isinstance(nack, rtcp.Nack) and (nack.sender_ssrc, nack.media_ssrc) == (1, 5)
    assert sorted(nack.lost) == sorted(lost)
    assert isinstance(remb, rtcp.Remb) and remb.ssrcs == [5, 6]
    assert 1_234_567 * 0.999 < remb.bitrate <= 1_234_567  # 18-bit mantissa


def test_a_chromium_remb_reads_back() -> None:
    # As Chromium sends it: PSFB fmt 15, media SSRC 0, "REMB", 1 SSRC, exp 3 mantissa 0x1E848.
    fci = b"REMB" + struct.pack("!I", 1 << 24 | 3 << 18 | 0x1E848) + struct.pack("!I", 0xCAFE)
    data = struct.pack("!BBH", 0x8F, 206, 2 + len(fci) // 4) + struct.pack("!II", 0x1111, 0) + fci
    assert rtcp.parse_rtcp(data) == [rtcp.Remb(0x1111, 0x1E848 << 3, [0xCAFE])]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\xc8", "truncated"),
        (struct.pack("!BBH", 0x40, 201, 1) + b"\x00" * 4, "bad_version"),
        (struct.pack("!BBH", 0x80, 201, 5) + b"\x00" * 4, "truncated"),  # longer than the datagram
        (
            struct.pack("!BBH", 0x81, 201, 1) + b"\x00" * 4,
            "truncated",
        ),  # a report block announced, none there
        (struct.pack("!BBH", 0x81, 206, 1) + b"\x00" * 4, "truncated"),  # PLI without its media SSRC
    ],
)
def test_malformed_rtcp_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        rtcp.parse_rtcp(data)
    assert info.value.reason == reason


def test_unknown_packet_types_are_skipped_by_their_length() -> None:
    app = struct.pack("!BBH", 0x80, 204, 2) + b"\x00" * 8
    assert rtcp.parse_rtcp(app + rtcp.pli(1, 2)) == [rtcp.Pli(1, 2)]


def test_ntp_time_of_the_unix_epoch() -> None:
    assert rtcp.ntp_now(0.5) == (2_208_988_800 << 32) | (1 << 31)
