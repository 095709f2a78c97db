"""Keyframe and completeness checks on real VP8 output (libvpx through PyAV)."""

from __future__ import annotations

import fractions
from typing import Any

import av
import pytest

from media.frames import EncodedFrame, is_complete, is_keyframe
from media.synthetic import SyntheticVideoTrack


async def vp8_packets(count: int) -> list[av.Packet[Any]]:
    track = SyntheticVideoTrack(width=320, height=240, fps=1000)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base = fractions.Fraction(1, 90000)
    codec.options = {"deadline": "realtime", "lag-in-frames": "0"}
    packets: list[av.Packet[Any]] = []
    for _ in range(count):
        packets += codec.encode(await track.recv())
    packets += codec.encode(None)
    track.stop()
    return packets


async def test_vp8_keyframes_are_recognised() -> None:
    packets = await vp8_packets(5)
    assert len(packets) >= 5
    assert [is_keyframe("video/VP8", bytes(p)) for p in packets] == [p.is_keyframe for p in packets]
    assert is_keyframe("video/VP8", bytes(packets[0]))
    assert all(is_complete("video/VP8", bytes(p)) for p in packets)


async def test_a_vp8_frame_cut_short_is_incomplete() -> None:
    keyframe = bytes((await vp8_packets(1))[0])
    assert not is_complete("video/VP8", keyframe[:20])
    assert not is_complete("video/VP8", b"\x00")


def test_h264_idr_is_a_keyframe() -> None:
    sps, pps, idr, non_idr = b"\x67\x42\xc0\x1f", b"\x68\xce\x3c\x80", b"\x65\x88\x84", b"\x41\x9a\x02"
    start = b"\x00\x00\x00\x01"
    assert is_keyframe("video/H264", start + sps + start + pps + start + idr)
    assert not is_keyframe("video/H264", start + non_idr)


def test_audio_frames_stand_alone() -> None:
    assert is_keyframe("audio/opus", b"\xfc\x00")


def test_encoded_frame_validates_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        EncodedFrame(kind="text", mime_type="x/y", clock_rate=1, data=b"", timestamp=0, keyframe=True)
