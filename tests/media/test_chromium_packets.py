"""The pure RTP/RTCP code against packets captured from Chromium (decrypted at a Loket leg during
tests/e2e/test_visitor_journey.py; RTP packets cut after 80 bytes, RTCP whole).

That Chromium leg negotiated audio MID "0" with ssrc-audio-level id 1 and sdes:mid id 4; video MID
"1", VP8 96 (RTX 97) with abs-send-time id 2 and sdes:mid id 4.
"""

from __future__ import annotations

from media import rtcp_packets as rtcp
from media.rtp_header import (
    ABS_SEND_TIME_URI,
    MID_URI,
    ExtensionRewriter,
    extension_elements,
    parse_rtp,
    rewrite_rtp,
)
from media.rtp_payload import starts_keyframe

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
CHROMIUM_AUDIO = {1: AUDIO_LEVEL_URI, 4: MID_URI}
CHROMIUM_VIDEO = {2: ABS_SEND_TIME_URI, 4: MID_URI}
# What an aiortc peer (the synthetic peer) negotiates: aiortc's own ids.
AIORTC_AUDIO = {1: MID_URI, 2: AUDIO_LEVEL_URI}
AIORTC_VIDEO = {1: MID_URI, 3: ABS_SEND_TIME_URI}

VP8_KEYFRAME_START = bytes.fromhex(
    "906061c77e9711fb7f38852bbede0002224d0073403100009080cfcc507c009d012a8002e001396b00271c22161622"
    "661220d408dc1d9132d9a07f407f7fe4ee6d0bf80b70098a4de30fef5fd1bb9dff"
)
VP8_DELTA_MIDDLE = bytes.fromhex(
    "906061c87e9711fb7f38852bbede0002224d08e4403100008080cfccc8ceff3293a8b268b43b7233c14b842dee4678"
    "297085bdc6d2b25c24b4697085bdc8cf052e10b7b919e0a5c1f2184900fe6c83ff"
)
OPUS = bytes.fromhex(
    "90ef2461739b8da7ca1afc90bede0001403010ff780be4c136ecc58d8c49469904c5aaed92e7634a3a1898ee62cb60ff6c1b2900"
)
# Bandwidth probing on the RTX stream: no payload, 255 bytes of padding (279 bytes in all).
RTX_PADDING = bytes.fromhex("b061105d000000002f300bf1bede00024031224cfe350000") + bytes(254) + b"\xff"
SENDER_REPORT_AND_SDES = bytes.fromhex(
    "80c800067f38852beec07113ba95e9e17e97c001000000210000580181ca00067f38852b011067626e444d327131"
    "317659774d7154620000"
)
RECEIVER_REPORT = bytes.fromhex("81c900077f38852b36562b100000000000001e2d0000046a711403f40000685f")


def test_a_chromium_vp8_keyframe_packet_is_read() -> None:
    fields = parse_rtp(VP8_KEYFRAME_START)
    assert (fields.payload_type, fields.marker, fields.sequence, fields.ssrc) == (
        96,
        False,
        0x61C7,
        0x7F38852B,
    )
    assert extension_elements(VP8_KEYFRAME_START[fields.csrc_end : fields.ext_end]) == [
        (2, bytes.fromhex("4d0073")),
        (4, b"1"),
    ]
    assert starts_keyframe("video/VP8", VP8_KEYFRAME_START[fields.ext_end : fields.payload_end])
    delta = parse_rtp(VP8_DELTA_MIDDLE)
    assert not starts_keyframe("video/VP8", VP8_DELTA_MIDDLE[delta.ext_end : delta.payload_end])


def test_chromium_video_is_rewritten_for_an_aiortc_leg() -> None:
    fields = parse_rtp(VP8_KEYFRAME_START)
    rewriter = ExtensionRewriter(CHROMIUM_VIDEO, AIORTC_VIDEO, source_mid="1", target_mid="video1")
    block = rewriter.rewrite(VP8_KEYFRAME_START, fields)
    out = rewrite_rtp(
        VP8_KEYFRAME_START, fields, payload_type=97, sequence=65535, timestamp=1, ssrc=42, extensions=block
    )
    out_fields = parse_rtp(out)
    assert (out_fields.payload_type, out_fields.sequence, out_fields.timestamp, out_fields.ssrc) == (
        97,
        65535,
        1,
        42,
    )
    assert extension_elements(out[out_fields.csrc_end : out_fields.ext_end]) == [
        (3, bytes.fromhex("4d0073")),
        (1, b"video1"),
    ]
    assert out[out_fields.ext_end :] == VP8_KEYFRAME_START[fields.ext_end :]


def test_chromium_audio_keeps_its_level_under_the_other_legs_id() -> None:
    fields = parse_rtp(OPUS)
    assert (fields.payload_type, fields.marker, fields.ssrc) == (111, True, 0xCA1AFC90)
    block = ExtensionRewriter(CHROMIUM_AUDIO, AIORTC_AUDIO, source_mid="0", target_mid="0").rewrite(
        OPUS, fields
    )
    assert block is not None
    assert extension_elements(block) == [(1, b"0"), (2, b"\xff")]


def test_chromium_rtx_padding_has_no_payload() -> None:
    fields = parse_rtp(RTX_PADDING)
    assert (fields.payload_type, fields.ssrc, len(RTX_PADDING)) == (97, 0x2F300BF1, 279)
    assert fields.payload_end == fields.ext_end  # nothing to retransmit: padding only


def test_chromium_rtcp_is_read() -> None:
    [report] = rtcp.parse_rtcp(SENDER_REPORT_AND_SDES)  # SR + SDES (SDES is not acted on)
    assert isinstance(report, rtcp.SenderReport)
    assert (report.ssrc, report.rtp_timestamp, report.packets, report.reports) == (
        0x7F38852B,
        0x7E97C001,
        0x21,
        [],
    )
    assert report.ntp >> 32 == 0xEEC07113  # seconds since 1900: December 2026
    [receiver] = rtcp.parse_rtcp(RECEIVER_REPORT)
    assert isinstance(receiver, rtcp.ReceiverReport) and receiver.ssrc == 0x7F38852B
    [block] = receiver.reports
    assert (block.ssrc, block.fraction_lost, block.packets_lost, block.highest_sequence) == (
        0x36562B10,
        0,
        0,
        0x1E2D,
    )
