"""``Depacketizer``: VP8 and Opus frames from RTP packets, in order, across reordering and loss."""

from __future__ import annotations

import struct

import pytest

from media.depacketizer import AssembledFrame, Depacketizer
from media.rtp_header import parse_rtp

START = bytes([0x90, 0x80, 0x81, 0x23])  # X, S, partition 0; I; 15-bit picture id (RFC 7741)
MIDDLE = bytes([0x80, 0x80, 0x81, 0x23])


def packet(sequence: int, timestamp: int, payload: bytes, *, marker: bool = False, ssrc: int = 7) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, sequence & 0xFFFF, timestamp, ssrc)
        + payload
    )


def vp8_frame(first: int, timestamp: int, parts: list[bytes]) -> list[bytes]:
    return [
        packet(first + i, timestamp, (START if i == 0 else MIDDLE) + part, marker=i == len(parts) - 1)
        for i, part in enumerate(parts)
    ]


def run(packets: list[bytes], mime: str = "video/VP8") -> tuple[list[AssembledFrame], Depacketizer]:
    frames: list[AssembledFrame] = []
    depacketizer = Depacketizer(mime, 90000 if mime.startswith("video") else 48000, frames.append)
    for data in packets:
        depacketizer.feed(data, parse_rtp(data))
    return frames, depacketizer


def test_vp8_frames_are_joined_without_descriptors_across_the_sequence_wrap() -> None:
    packets = vp8_frame(65534, 0, [b"ab", b"cd", b"ef"]) + vp8_frame(1, 3000, [b"gh"])
    frames, _ = run(packets)
    assert [(f.data, f.timestamp, f.first_sequence, f.last_sequence) for f in frames] == [
        (b"abcdef", 0, 65534, 0),
        (b"gh", 3000, 1, 1),
    ]


def test_a_late_packet_completes_its_frame_and_frames_stay_in_order() -> None:
    first = vp8_frame(10, 0, [b"a", b"b", b"c"])
    second = vp8_frame(13, 3000, [b"d", b"e"])
    frames, _ = run([first[0], first[2], *second, first[1]])  # first[1] retransmitted late
    assert [f.data for f in frames] == [b"abc", b"de"]


def test_a_frame_that_never_completes_is_given_up_and_the_next_one_follows_a_gap() -> None:
    packets = []
    for n in range(8):
        packets += vp8_frame(10 + 2 * n, 3000 * n, [bytes([n]), bytes([n])])
    del packets[3]  # the second half of frame 1 is lost for good
    frames, depacketizer = run(packets)
    assert [f.timestamp for f in frames] == [0] + [3000 * n for n in range(2, 8)]
    assert frames[1].first_sequence != frames[0].last_sequence + 1  # the consumer sees the gap
    assert depacketizer.given_up == 1
    # A packet of the frame given up, arriving after all, changes nothing.
    late = packet(13, 3000, MIDDLE + b"\x01", marker=True)
    depacketizer.feed(late, parse_rtp(late))
    assert depacketizer.given_up == 1


def test_every_opus_packet_is_a_frame() -> None:
    frames, _ = run([packet(5, 960 * n, b"opus%d" % n) for n in range(3)], "audio/opus")
    assert [f.data for f in frames] == [b"opus0", b"opus1", b"opus2"]


def test_only_vp8_and_opus() -> None:
    with pytest.raises(ValueError, match="H264"):
        Depacketizer("video/H264", 90000, lambda frame: None)
