"""``SrtpContext`` (pylibsrtp's C functions called directly) gives the bytes pylibsrtp gives."""

from __future__ import annotations

import struct

import pylibsrtp
import pytest

from media._aiortc_hooks import SrtpContext
from media.rtp_header import rewrite_header

KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16 bytes of key, 14 of salt


def session(direction: str) -> pylibsrtp.Session:
    ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if direction == "tx" else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=ssrc_type))


def rtp(sequence: int, size: int = 1000, ssrc: int = 0x1234) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, 96, sequence, 90000 + sequence, ssrc)
        + bytes(range(256)) * (size // 256)
        + b"x" * (size % 256)
    )


def rtcp_pli(sender: int, media: int) -> bytes:
    return struct.pack("!BBHII", 0x81, 206, 2, sender, media)


@pytest.mark.parametrize("size", [0, 1, 100, 1200, 1340])
def test_protected_packets_are_byte_for_byte_pylibsrtps(size: int) -> None:
    ours, theirs = SrtpContext(session("tx")), session("tx")
    for sequence in (1, 2, 3):
        protected = ours.protect(rtp(sequence, size))
        assert protected is not None
        assert bytes(protected) == theirs.protect(rtp(sequence, size))
    protected = ours.protect_rtcp(rtcp_pli(1, 2))
    assert protected is not None
    assert bytes(protected) == theirs.protect_rtcp(rtcp_pli(1, 2))


def test_a_header_rewritten_in_the_buffer_is_the_rewritten_packet_protected() -> None:
    ours, theirs = SrtpContext(session("tx")), session("tx")
    source = rtp(7, 900, ssrc=0xAAAA)
    for sequence, second in ((65535, 0x80 | 100), (0, 100)):
        protected = ours.protect_rewritten(source, second, sequence, 0xFFFFFFFF, 0xBBBB)
        assert protected is not None
        assert bytes(protected) == theirs.protect(
            rewrite_header(source, second, sequence, 0xFFFFFFFF, 0xBBBB)
        )


def test_unprotect_gives_the_packet_back_and_refuses_a_forgery_or_a_replay() -> None:
    sender, receiver = session("tx"), SrtpContext(session("rx"))
    packet = rtp(10)
    protected = sender.protect(packet)
    assert receiver.unprotect(protected) == packet
    assert receiver.unprotect(protected) is None  # a replay
    forged = bytearray(sender.protect(rtp(11)))
    forged[20] ^= 1
    assert receiver.unprotect(bytes(forged)) is None
    assert receiver.unprotect(sender.protect(rtp(12))) == rtp(12)  # and goes on
    report = rtcp_pli(5, 6)
    assert receiver.unprotect_rtcp(sender.protect_rtcp(report)) == report
    assert receiver.unprotect_rtcp(b"\x81\xce\x00\x02" + bytes(30)) is None


def test_a_packet_too_long_for_the_buffer_is_refused_not_raised() -> None:
    context = SrtpContext(session("tx"))
    assert context.protect(rtp(1, 4000)) is None
    assert context.protect_rewritten(rtp(1, 4000), 96, 1, 1, 1) is None
    assert SrtpContext(session("rx")).unprotect(bytes(5000)) is None
    assert context.protect(rtp(2, 1200)) is not None
