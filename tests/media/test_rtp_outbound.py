"""``OutboundRtp`` writes each forwarded packet's header into the leg's SRTP buffer and keeps
the packet it came from: what leaves, and what a NACK gets again, are the rewritten packet."""

from __future__ import annotations

import random
import sys

from media.rtp_header import extension_block, extension_elements, parse_rtp, rewrite_header, wrap_rtx
from media.rtp_outbound import OutboundRtp
from media.rtp_params import Codec, StreamParameters
from tests.media.test_rtp_header import chromium_video_packet

OUR_SSRC, OUR_RTX_SSRC = 0x51, 0x52


class Link:
    """The leg's side (``RtpLink``): what is sent is kept as it would leave, unencrypted."""

    cname = "link"
    connected = True

    def __init__(self) -> None:
        self.clock = lambda: 1.0
        self.rng = random.Random(4)  # noqa: S311 (start values of a test stream)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> bool:
        self.sent.append(bytes(data))
        return True

    def send_rewritten(self, data: bytes, second: int, sequence: int, timestamp: int, ssrc: int) -> bool:
        self.sent.append(rewrite_header(data, second, sequence, timestamp, ssrc))
        return True

    def send_rtcp(self, data: bytes) -> bool:
        return True

    def drop(self, reason: str) -> None:
        raise AssertionError(reason)

    def inbound_ssrcs(self) -> list[int]:
        return []


def outbound(link: Link, *, rtx: bool) -> OutboundRtp:
    codecs = [Codec(100, "video/VP8", 90000, feedback=frozenset({"nack", "nack pli"}))]
    if rtx:
        codecs.append(Codec(101, "video/rtx", 90000, rtx_for=100))
    stream = OutboundRtp("video", link)
    stream.configure(
        StreamParameters(kind="video", codecs=tuple(codecs), local_ssrc=OUR_SSRC, local_rtx_ssrc=OUR_RTX_SSRC)
    )
    return stream


def test_a_packet_leaves_with_our_header_and_its_extensions_rewritten() -> None:
    link = Link()
    stream = outbound(link, rtx=False)
    data = chromium_video_packet(sequence=65535, marker=True)
    fields = parse_rtp(data)
    extensions = extension_block([(5, b"\x12\x34\x56")])
    assert stream.send_media(data, fields, 100, extensions, now=1.0)
    assert stream.send_media(
        chromium_video_packet(sequence=0), parse_rtp(chromium_video_packet(sequence=0)), 100, None, 1.0
    )

    first, second = (parse_rtp(p) for p in link.sent)
    assert (first.payload_type, first.marker, first.ssrc) == (100, True, OUR_SSRC)
    assert (second.sequence - first.sequence) & 0xFFFF == 1  # across the upstream wrap
    assert extension_elements(link.sent[0][first.csrc_end : first.ext_end]) == [(5, b"\x12\x34\x56")]
    assert link.sent[0][first.ext_end :] == data[fields.ext_end :]  # the payload as it came
    assert link.sent[1][12:] == chromium_video_packet(sequence=0)[12:]  # no rewrite: all kept


def test_a_nack_gets_the_packet_that_left_again_on_the_rtx_stream_or_as_it_was() -> None:
    for rtx in (True, False):
        link = Link()
        stream = outbound(link, rtx=rtx)
        for sequence in (10, 11, 12):
            data = chromium_video_packet(sequence=sequence)
            extensions = extension_block([(5, b"\x01")]) if sequence == 11 else None
            stream.send_media(data, parse_rtp(data), 100, extensions, now=1.0)
        sent = link.sent[1]
        stream.retransmit([parse_rtp(sent).sequence, 0xBEEF])

        assert stream.not_in_history == 1 and stream.retransmitted == 1
        again = link.sent[-1]
        if rtx:
            wrapped = parse_rtp(again)
            assert (wrapped.payload_type, wrapped.ssrc) == (101, OUR_RTX_SSRC)
            assert again == wrap_rtx(
                sent, parse_rtp(sent), payload_type=101, sequence=wrapped.sequence, ssrc=OUR_RTX_SSRC
            )
        else:
            assert again == sent


def test_the_history_copies_packets_instead_of_holding_on_to_them() -> None:
    # Holding every video packet for ten seconds, freed in arrival order among short-lived
    # objects, fragmented the C heap: `loket serve` grew about 4 MiB a minute with ten calls.
    link = Link()
    stream = outbound(link, rtx=False)
    data = chromium_video_packet(sequence=7)
    fields = parse_rtp(data)
    references = sys.getrefcount(data)
    stream.send_media(data, fields, 100, None, now=1.0)
    sent = link.sent[0]
    assert sys.getrefcount(data) == references  # nothing kept the packet

    stream.retransmit([parse_rtp(sent).sequence])
    assert stream.retransmitted == 1 and link.sent[-1] == sent


def test_a_packet_longer_than_a_history_slot_is_answered_whole_and_a_slot_reused_is_not() -> None:
    link = Link()
    stream = outbound(link, rtx=False)
    long = chromium_video_packet(sequence=1) + b"y" * 1500
    stream.send_media(long, parse_rtp(long), 100, None, now=1.0)
    first = parse_rtp(link.sent[0]).sequence
    stream.retransmit([first])
    assert stream.retransmitted == 1 and link.sent[-1] == link.sent[0]

    for sequence in range(2, 1026):  # 1,024 more: the first packet's slot is taken again
        data = chromium_video_packet(sequence=sequence)
        stream.send_media(data, parse_rtp(data), 100, None, now=1.0)
    stream.retransmit([first, (first + 1024) & 0xFFFF])
    assert stream.not_in_history == 1 and stream.retransmitted == 2
    assert link.sent[-1] == link.sent[-2]  # the packet now in that slot, as it left
