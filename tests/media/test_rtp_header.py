"""RTP headers as bytes: reading, rewriting for the other leg, extension ids, RTX, continuity."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from media.rtp_header import (
    ABS_SEND_TIME_URI,
    MID_URI,
    ExtensionRewriter,
    MalformedPacket,
    StreamMapper,
    extension_block,
    extension_elements,
    parse_rtp,
    rewrite_rtp,
    unwrap_rtx,
    unwrap_rtx_fields,
    wrap_rtx,
)
from media.rtp_payload import starts_keyframe

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

# A video packet laid out as Chromium sends it (one-byte extensions, RFC 8285): abs-send-time
# (id 2), transport-wide sequence number (id 3), MID "1" (id 4), then a VP8 descriptor and payload.
CHROMIUM_EXTENSIONS = {2: ABS_SEND_TIME_URI, 3: TRANSPORT_CC_URI, 4: MID_URI}


def chromium_video_packet(sequence: int = 0x1234, timestamp: int = 0x89ABCDEF, marker: bool = False) -> bytes:
    elements = [(2, b"\x12\x34\x56"), (3, b"\x00\x07"), (4, b"1")]
    header = struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | 96, sequence, timestamp, 0x2ABCDEF0)
    return header + extension_block(elements) + bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00]) + b"x" * 40


def test_the_fields_of_a_chromium_packet_are_read() -> None:
    data = chromium_video_packet(marker=True)
    fields = parse_rtp(data)
    assert (fields.payload_type, fields.marker, fields.sequence, fields.timestamp, fields.ssrc) == (
        96,
        True,
        0x1234,
        0x89ABCDEF,
        0x2ABCDEF0,
    )
    assert fields.csrc_end == 12
    assert extension_elements(data[fields.csrc_end : fields.ext_end]) == [
        (2, b"\x12\x34\x56"),
        (3, b"\x00\x07"),
        (4, b"1"),
    ]
    assert data[fields.ext_end : fields.payload_end].endswith(b"x" * 40)


def test_csrcs_and_padding_are_skipped() -> None:
    header = struct.pack("!BBHII", 0xA2, 111, 7, 960, 5) + struct.pack("!II", 1, 2)  # P, CC=2
    data = header + b"opus" + b"\x00\x00\x00\x04"
    fields = parse_rtp(data)
    assert fields.csrc_end == fields.ext_end == 20
    assert data[fields.ext_end : fields.payload_end] == b"opus"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x60\x00", "truncated"),
        (struct.pack("!BBHII", 0x40, 96, 1, 2, 3) + b"payload", "bad_version"),
        (struct.pack("!BBHII", 0x90, 96, 1, 2, 3) + b"\xbe\xde\x00\x09\x10", "truncated"),
        (struct.pack("!BBHII", 0x83, 96, 1, 2, 3), "truncated"),  # three CSRCs announced, none there
        (struct.pack("!BBHII", 0xA0, 96, 1, 2, 3) + b"ab\x00\x09", "bad_padding"),
        (struct.pack("!BBHII", 0xA0, 96, 1, 2, 3) + b"ab\x00\x00", "bad_padding"),
    ],
)
def test_malformed_packets_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_rtp(data)
    assert info.value.reason == reason


def test_rewriting_changes_the_header_and_keeps_the_payload() -> None:
    data = chromium_video_packet(marker=True)
    fields = parse_rtp(data)
    out = rewrite_rtp(data, fields, payload_type=120, sequence=65535, timestamp=5, ssrc=0xDEADBEEF)
    rewritten = parse_rtp(out)
    assert (
        rewritten.payload_type,
        rewritten.marker,
        rewritten.sequence,
        rewritten.timestamp,
        rewritten.ssrc,
    ) == (
        120,
        True,
        65535,
        5,
        0xDEADBEEF,
    )
    assert out[12:] == data[12:]


def test_extension_ids_are_mapped_by_uri_unknown_ones_dropped_and_the_mid_rewritten() -> None:
    data = chromium_video_packet()
    fields = parse_rtp(data)
    # The other leg (an aiortc-like answer): mid id 1, abs-send-time id 3, no transport-cc.
    rewriter = ExtensionRewriter(
        CHROMIUM_EXTENSIONS, {1: MID_URI, 3: ABS_SEND_TIME_URI}, source_mid="1", target_mid="video"
    )
    assert not rewriter.identity
    block = rewriter.rewrite(data, fields)
    assert block is not None
    out = rewrite_rtp(data, fields, payload_type=96, sequence=1, timestamp=2, ssrc=3, extensions=block)
    out_fields = parse_rtp(out)
    assert extension_elements(out[out_fields.csrc_end : out_fields.ext_end]) == [
        (3, b"\x12\x34\x56"),
        (1, b"video"),
    ]
    assert out[out_fields.ext_end :] == data[fields.ext_end :]


def test_the_same_ids_and_mid_forward_the_extension_block_untouched() -> None:
    rewriter = ExtensionRewriter(
        CHROMIUM_EXTENSIONS, dict(CHROMIUM_EXTENSIONS), source_mid="1", target_mid="1"
    )
    assert rewriter.identity
    data = chromium_video_packet()
    assert rewriter.rewrite(data, parse_rtp(data)) is None


def test_no_extension_left_clears_the_extension_bit() -> None:
    data = chromium_video_packet()
    fields = parse_rtp(data)
    block = ExtensionRewriter(CHROMIUM_EXTENSIONS, {5: AUDIO_LEVEL_URI}).rewrite(data, fields)
    assert block == b""
    out = rewrite_rtp(data, fields, payload_type=96, sequence=1, timestamp=2, ssrc=3, extensions=block)
    assert not out[0] & 0x10
    out_fields = parse_rtp(out)
    assert out_fields.ext_end == 12 and out[12:] == data[fields.ext_end :]


def test_two_byte_extensions_are_read_and_long_values_written_in_that_form() -> None:
    block = extension_block([(20, b"a" * 20), (1, b"")])
    assert block[:2] == b"\x10\x00"
    assert extension_elements(block) == [(20, b"a" * 20), (1, b"")]
    with pytest.raises(MalformedPacket):
        extension_elements(b"\xbe\xde\x00\x01" + bytes([0x3F, 1, 2, 3]))  # a 4-byte value in 3 bytes


def test_sequence_numbers_stay_continuous_across_the_wrap_and_a_new_upstream_stream() -> None:
    mapper = StreamMapper(90000, rng=random.Random(1))  # noqa: S311 (a seeded test)
    out = [
        mapper.map(0xAAAA, sequence, 3000 * n, now=10.0 + n / 30)
        for n, sequence in enumerate((65534, 65535, 0, 1))
    ]
    sequences = [s for s, _ in out]
    assert [(b - a) & 0xFFFF for a, b in itertools.pairwise(sequences)] == [1, 1, 1]
    assert [(b - a) & 0xFFFFFFFF for (_, a), (_, b) in itertools.pairwise(out)] == [3000, 3000, 3000]

    # A late (retransmitted) packet lands where its original would have.
    assert mapper.map(0xAAAA, 65535, 3000, now=11.0) == out[1]

    # The party's leg is replaced: a new SSRC, its own numbers; the receiver sees one stream.
    first_new = mapper.map(0xBBBB, 40000, 123456, now=10.0 + 3 / 30 + 0.5)
    assert first_new[0] == (sequences[-1] + 1) & 0xFFFF
    assert (first_new[1] - out[-1][1]) & 0xFFFFFFFF == 45000  # 0.5 s of wall clock at 90 kHz
    assert mapper.map(0xBBBB, 40001, 126456, now=12.0) == (
        (first_new[0] + 1) & 0xFFFF,
        (first_new[1] + 3000) & 0xFFFFFFFF,
    )


def test_a_restart_resumes_right_after_the_last_packet_sent() -> None:
    mapper = StreamMapper(48000, rng=random.Random(2))  # noqa: S311 (a seeded test)
    last = mapper.map(1, 100, 960, now=1.0)
    mapper.restart()
    # Packets 101..149 were skipped (waiting for a keyframe): no gap for the receiver.
    assert mapper.map(1, 150, 48960, now=2.0)[0] == (last[0] + 1) & 0xFFFF


def test_rtx_round_trip_keeps_the_original_packet() -> None:
    data = chromium_video_packet(sequence=65535, marker=True)
    fields = parse_rtp(data)
    rtx = wrap_rtx(data, fields, payload_type=97, sequence=9, ssrc=0x55)
    rtx_fields = parse_rtp(rtx)
    assert (rtx_fields.payload_type, rtx_fields.sequence, rtx_fields.ssrc, rtx_fields.marker) == (
        97,
        9,
        0x55,
        True,
    )
    assert unwrap_rtx(rtx, rtx_fields, payload_type=96, ssrc=0x2ABCDEF0) == data
    # The unwrapped packet's fields come without a second parse, and are what a parse gives.
    assert unwrap_rtx_fields(rtx, rtx_fields, payload_type=96, ssrc=0x2ABCDEF0) == (data, parse_rtp(data))
    with pytest.raises(MalformedPacket):
        unwrap_rtx(
            rtx[: rtx_fields.ext_end + 1], parse_rtp(rtx[: rtx_fields.ext_end + 1]), payload_type=96, ssrc=1
        )


def test_keyframes_are_found_in_the_first_packet_of_a_frame() -> None:
    vp8_key = bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00])  # S, partition 0; P bit 0
    vp8_delta = bytes([0x90, 0x80, 0x81, 0x23, 0x11, 0x02, 0x00])
    vp8_middle = bytes([0x80, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00])  # not the start of a frame
    assert starts_keyframe("video/VP8", vp8_key)
    assert not starts_keyframe("video/VP8", vp8_delta)
    assert not starts_keyframe("video/VP8", vp8_middle)
    assert starts_keyframe("video/H264", bytes([0x65, 0x88]))  # IDR
    assert starts_keyframe(
        "video/H264", bytes([0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0x01])
    )  # STAP-A
    assert starts_keyframe("video/H264", bytes([0x7C, 0x85]))  # FU-A start of an IDR
    assert not starts_keyframe("video/H264", bytes([0x7C, 0x05]))  # FU-A, not the start
    assert not starts_keyframe("video/H264", bytes([0x41, 0x9A]))  # non-IDR slice
