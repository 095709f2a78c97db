"""The synthetic peer's sender on its own: the packets it writes from the loop built once, and
how it answers RTCP (keyframe requests, NACK on RTX, REMB) and reports (SR), on a hand-moved
clock. (Sent through aiortc's SRTP to a real peer: tests/media/test_synthetic_peer.py.)"""

from __future__ import annotations

import itertools
import random

from media import rtcp_packets as rtcp
from media.rtp_header import parse_rtp, unwrap_rtx
from media.synthetic import LoopedAudioTrack, LoopedVideoTrack, encoded_loop
from media.synthetic_peer import RtpCounter
from media.synthetic_rtp import LoopedRtpSender, packetized_loop

SSRC, RTX_SSRC, VP8, RTX = 0x1111, 0x2222, 96, 97


class Wire:
    """What a sender sent, RTP and RTCP apart."""

    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send(self, data: bytes, *, rtcp: bool = False) -> bool:
        (self.rtcp if rtcp else self.rtp).append(data)
        return True


def video_sender(wire: Wire) -> tuple[LoopedRtpSender, LoopedVideoTrack]:
    track = LoopedVideoTrack(encoded_loop())
    sender = LoopedRtpSender(
        track,
        ssrc=SSRC,
        payload_type=VP8,
        send=wire.send,
        cname="synthetic",
        rtx_ssrc=RTX_SSRC,
        rtx_payload_type=RTX,
        rng=random.Random(1),  # noqa: S311 (start values of a test stream)
    )
    sender.schedule(100.0)
    return sender, track


def count(packets: list[bytes], kind: str = "video") -> RtpCounter:
    counter = RtpCounter(kind)
    for data in packets:
        counter.add_bytes(data, parse_rtp(data))
    return counter


def test_the_loop_is_packetized_once_with_room_for_each_frames_trailer() -> None:
    video, audio = packetized_loop(encoded_loop())
    assert packetized_loop(encoded_loop())[0] is video
    assert len(video) == 120 and audio == encoded_loop().audio
    assert all(len(p) <= 1300 for frame in video for p in frame)
    assert [frame[0][0] for frame in video[:2]] == [0x90, 0x90]  # S: each frame's first packet


def test_frames_go_out_on_schedule_as_whole_numbered_frames_of_one_continuous_stream() -> None:
    wire = Wire()
    sender, track = video_sender(wire)
    sender.due(100.0)
    assert track.frames_sent == 1
    sender.due(100.12)  # late: 100.05 and 100.10 are caught up at once
    assert track.frames_sent == 3
    sender.due(100.49)
    assert track.frames_sent == 10

    fields = [parse_rtp(p) for p in wire.rtp]
    assert {(f.ssrc, f.payload_type) for f in fields} == {(SSRC, VP8)}
    assert {(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(fields)} == {1}
    assert sorted({f.timestamp - fields[0].timestamp for f in fields}) == [n * 4500 for n in range(10)]
    counter = count(wire.rtp)
    assert counter.numbers == list(range(10))
    assert (counter.frames, counter.keyframes, counter.lost) == (10, 1, 0)
    # The picture id goes up by one a frame (RFC 7741: M set, 15 bits).
    first_packets = [p[12:16] for p in wire.rtp if p[12] & 0x10]
    ids = [int.from_bytes(d[2:4], "big") & 0x7FFF for d in first_packets]
    assert [(b - a) & 0x7FFF for a, b in itertools.pairwise(ids)] == [1] * 9


def test_a_pli_or_fir_restarts_the_loop_at_its_keyframe_and_a_remb_is_kept() -> None:
    wire = Wire()
    sender, track = video_sender(wire)
    sender.due(100.2)
    sender.on_rtcp(rtcp.pli(9, SSRC))
    sender.on_rtcp(rtcp.pli(9, 0xBAD))  # another stream's: ignored
    sender.due(100.25)
    sender.on_rtcp(rtcp.fir(9, SSRC, 1) + rtcp.remb(9, 300_000, [SSRC]))
    sender.due(100.3)
    counter = count(wire.rtp)
    assert counter.numbers == list(range(7)) and counter.keyframes == 3
    assert track.keyframe_requests == 2 and sender.target_bitrate == 300_000


def test_a_nack_is_answered_on_the_rtx_stream_and_loss_drops_packets() -> None:
    wire = Wire()
    sender, _track = video_sender(wire)
    sender.due(100.2)
    lost = parse_rtp(wire.rtp[3])
    sender.on_rtcp(rtcp.nack(9, SSRC, [lost.sequence, (lost.sequence + 5000) & 0xFFFF]))  # one never sent
    [rtx] = wire.rtp[-1:]
    fields = parse_rtp(rtx)
    assert (fields.ssrc, fields.payload_type, sender.retransmitted) == (RTX_SSRC, RTX, 1)
    assert unwrap_rtx(rtx, fields, payload_type=VP8, ssrc=SSRC) == wire.rtp[3]

    sender.drop(1.0, random.Random(2))  # noqa: S311
    sent = len(wire.rtp)
    sender.due(101.0)
    assert len(wire.rtp) == sent and sender.packets_sent > sent  # written, then lost on the way


def test_sender_reports_carry_our_counts_and_cname() -> None:
    wire = Wire()
    track = LoopedAudioTrack(encoded_loop())
    sender = LoopedRtpSender(track, ssrc=SSRC, payload_type=111, send=wire.send, cname="peer")
    sender.schedule(100.0)
    sender.due(101.6)  # the first report is due within 0.5..1.5 s
    assert track.frames_sent == 81 and len(wire.rtp) == 81
    assert count(wire.rtp, "audio").frames == 81
    [compound] = wire.rtcp
    report, *_ = rtcp.parse_rtcp(compound)
    assert isinstance(report, rtcp.SenderReport)
    assert (report.ssrc, report.packets) == (SSRC, 81)
    assert report.octets == sum(len(p) - 12 for p in wire.rtp)
    last = parse_rtp(wire.rtp[-1]).timestamp
    assert 0 <= (report.rtp_timestamp - last) & 0xFFFFFFFF < 48000  # now, on the audio clock
    assert b"peer" in compound
