"""What the first bytes of an RTP payload say, without depacketizing: does a keyframe start here?"""

from __future__ import annotations

_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def vp8_descriptor_length(payload: bytes) -> int:
    """The length of the VP8 payload descriptor that opens ``payload`` (RFC 7741 section 4.2)."""
    length = 1
    if payload[0] & 0x80:  # X: extension byte follows
        extension = payload[1]
        length = 2
        if extension & 0x80:  # I: picture id, 7 or 15 bits (M)
            length += 2 if payload[length] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            length += 1
        if extension & 0x30:  # T or K: TID/KEYIDX byte
            length += 1
    return length


def starts_keyframe(mime_type: str, payload: bytes) -> bool:
    """Whether this packet opens a frame a decoder can start at.

    VP8: the first packet of a frame (S set, partition 0) whose frame tag's P bit is 0
    (RFC 7741 section 4.3, RFC 6386 section 9.1). H.264: an IDR slice or an SPS, alone, in
    a STAP-A, or at the start of an FU-A (RFC 6184 section 5).
    """
    if not payload:
        return False
    mime = mime_type.lower()
    if mime == "video/vp8":
        if payload[0] & 0x17 != 0x10:
            return False
        try:
            offset = vp8_descriptor_length(payload)
        except IndexError:
            return False
        return len(payload) > offset and not payload[offset] & 0x01
    if mime == "video/h264":
        nal = payload[0] & 0x1F
        if nal in (_H264_IDR, _H264_SPS):
            return True
        if nal == _H264_FU_A:
            return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F == _H264_IDR
        if nal == _H264_STAP_A:
            position = 1
            while position + 2 < len(payload):
                size = payload[position] << 8 | payload[position + 1]
                if payload[position + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                    return True
                position += 2 + size
        return False
    return True  # audio frames stand alone
