"""Encoded media frames as the media package passes them around, and what we read from them.

Nothing here decodes: the few header bits we look at tell whether a frame is a keyframe
(a decoder can start there) and whether a VP8 frame is cut short.
"""

from __future__ import annotations

from dataclasses import dataclass

_VP8_KEYFRAME_START_CODE = b"\x9d\x01\x2a"
_H264_NAL_IDR = 5


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame received from a party, after RTP reassembly.

    ``timestamp`` is in units of ``clock_rate`` (90 kHz for video, 48 kHz for Opus), counted
    from the first frame of the stream, RTP wrap-around already unwrapped.
    ``discontinuity`` is set when RTP packets were lost between the previous frame and this
    one (or the sender's stream changed), so frames that reference earlier ones may not
    decode. ``complete`` is false when the frame's own header says it is cut short.
    """

    kind: str
    mime_type: str
    clock_rate: int
    data: bytes
    timestamp: int
    keyframe: bool
    discontinuity: bool = False
    complete: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind {self.kind!r}")
        if self.clock_rate <= 0:
            raise ValueError("clock_rate must be positive")


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether a decoder can start decoding at this frame."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        # RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame, which also
        # carries the start code 0x9d 0x01 0x2a.
        return len(data) >= 10 and not data[0] & 0x01 and data[3:6] == _VP8_KEYFRAME_START_CODE
    if mime == "video/h264":
        return _H264_NAL_IDR in _h264_nal_types(data)
    # Audio frames do not depend on each other.
    return not mime.startswith("video/")


def is_complete(mime_type: str, data: bytes) -> bool:
    """Whether the frame is at least as long as its own header says.

    Only VP8 says so: the frame tag gives the size of the first partition (RFC 6386
    section 9.1). A frame shorter than that lost its tail and must not reach a decoder.
    """
    if mime_type.lower() != "video/vp8":
        return bool(data)
    if len(data) < 3:
        return False
    tag = data[0] | (data[1] << 8) | (data[2] << 16)
    first_partition_size = (tag >> 5) & 0x7FFFF
    header = 10 if not tag & 0x01 else 3
    return header + first_partition_size <= len(data)


def _h264_nal_types(data: bytes) -> set[int]:
    """NAL unit types in an Annex B byte stream (what aiortc's H.264 depayloader emits)."""
    types = set()
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.add(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types
