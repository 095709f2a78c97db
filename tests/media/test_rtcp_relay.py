"""RTCP terminated per leg, with real aiortc clients relayed by a ``MediaCall`` on loopback:
keyframe requests, retransmissions (both ways), REMB and sender reports cross the relay with
their SSRCs and timestamps mapped; malformed packets are dropped and counted."""

from __future__ import annotations

import asyncio
import random
import struct
from typing import Any

from aiortc import RTCRtpTransceiver
from prometheus_client import CollectorRegistry, generate_latest

from media import RTP_DROPS, MediaCall
from media import _aiortc_hooks as hooks
from media import rtcp_packets as rtcp
from media.metrics import RtpDropsCollector
from media.rtp_header import RtpFields
from media.rtp_session import RtpSession


def video_of(client: Any) -> RTCRtpTransceiver:
    [transceiver] = [t for t in client.pc.getTransceivers() if t.kind == "video"]
    return transceiver


async def live_call(new_call: Any, new_client: Any, until: Any) -> tuple[MediaCall, Any, Any]:
    call = new_call()
    visitor, adviser = new_client(), new_client()
    await visitor.offer_through(call, "visitor")
    await adviser.offer_through(call, "adviser")
    await until(lambda: visitor.receiving() and adviser.receiving(), 15)
    return call, visitor, adviser


async def test_a_pli_from_the_receiver_reaches_the_sender(new_call: Any, new_client: Any, until: Any) -> None:
    call, visitor, adviser = await live_call(new_call, new_client, until)
    await asyncio.sleep(1.0)
    requests, keyframes = visitor.video.keyframe_requests, adviser.received["video"].keyframes
    plis = call.leg("visitor").inbound["video"].keyframe_requests_sent

    # The adviser asks for a keyframe of what it receives: the SSRC the server sends it on.
    await hooks.send_picture_loss_indication(
        video_of(adviser).receiver, call.leg("adviser").outbound["video"].ssrc
    )

    await until(lambda: visitor.video.keyframe_requests > requests, 5)  # the visitor's sender was asked
    await until(lambda: adviser.received["video"].keyframes > keyframes, 5)  # and its keyframe arrived
    assert call.leg("visitor").inbound["video"].keyframe_requests_sent > plis


async def test_a_nack_is_answered_from_the_send_history_on_the_rtx_stream(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, _visitor, adviser = await live_call(new_call, new_client, until)
    received: list[tuple[RtpFields, bytes]] = []
    adviser.observers.append(
        lambda data, fields: received.append((fields, data[fields.ext_end : fields.payload_end]))
    )
    outbound = call.leg("adviser").outbound["video"]
    await until(lambda: len([f for f, _ in received if f.ssrc == outbound.ssrc]) > 20, 5)
    original, payload = [(f, p) for f, p in received if f.ssrc == outbound.ssrc][-10]

    # The adviser lost that packet, it says: the server sends it again, wrapped in RTX.
    await hooks.send_rtcp(video_of(adviser), rtcp.nack(1, outbound.ssrc, [original.sequence]))

    def retransmissions() -> list[tuple[RtpFields, bytes]]:
        return [(f, p) for f, p in received if f.ssrc != outbound.ssrc and p[2:] == payload]

    await until(lambda: bool(retransmissions()), 5)
    [(rtx, rtx_payload)] = retransmissions()
    assert struct.unpack("!H", rtx_payload[:2])[0] == original.sequence
    assert rtx.timestamp == original.timestamp
    assert outbound.retransmitted == 1


async def test_what_the_server_lost_upstream_it_asks_for_again_and_forwards(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, visitor, adviser = await live_call(new_call, new_client, until)
    visitor.drop_outgoing(0.1, random.Random(3))  # noqa: S311 (10 % of its packets never arrive)
    numbers = adviser.received["video"].numbers
    first_sent = visitor.video.frames_sent
    await asyncio.sleep(3.0)
    last_sent = visitor.video.frames_sent
    await asyncio.sleep(2.0)  # retransmissions of the window's last frames (a loaded machine is slow)

    inbound = call.leg("visitor").inbound["video"]
    assert inbound.nacks_sent > 0 and inbound.recovered > 0
    window = set(range(first_sent, last_sent))
    whole = len(window & set(numbers))
    # Without retransmission about 0.9 ** 5 = 59 % of 5-packet frames would arrive whole.
    assert whole >= 0.8 * len(window), f"{whole} of {len(window)} frames whole at 10 % upstream loss"


async def test_a_constrained_receiver_lowers_the_senders_bitrate(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, visitor, adviser = await live_call(new_call, new_client, until)
    sender = visitor.sending["video"]
    assert sender.target_bitrate is None  # no REMB yet

    # The adviser's network can take 300 kbit/s: its browser says so in a REMB for what it receives.
    remb = rtcp.remb(1, 300_000, [call.leg("adviser").outbound["video"].ssrc])
    await hooks.send_rtcp(video_of(adviser), remb)

    await until(lambda: sender.target_bitrate == 300_000, 5)
    forwarder = next(f for f in call.forwarders if f.kind == "video" and f.stats.remb_forwarded)
    assert forwarder.stats.remb_forwarded == 1


async def test_sender_reports_reach_the_receiver_on_the_senders_clock(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, _visitor, adviser = await live_call(new_call, new_client, until)
    upstream: list[rtcp.SenderReport] = []
    for kind in ("audio", "video"):
        call.leg("visitor").inbound[kind].subscribe_reports(lambda stream, report: upstream.append(report))
    downstream: list[rtcp.SenderReport] = []
    transport = video_of(adviser).receiver.transport
    original = transport._handle_rtcp_data

    async def capture(data: bytes) -> None:
        downstream.extend(p for p in rtcp.parse_rtcp(data) if isinstance(p, rtcp.SenderReport))
        await original(data)

    transport._handle_rtcp_data = capture
    outbound = call.leg("adviser").outbound
    await until(lambda: {r.ssrc for r in downstream} >= {outbound["audio"].ssrc, outbound["video"].ssrc}, 10)

    for report in downstream:
        kind = "video" if report.ssrc == outbound["video"].ssrc else "audio"
        mapper = outbound[kind].mapper
        assert mapper is not None
        [source] = [u for u in upstream if u.ntp == report.ntp]  # the visitor's own NTP time
        # Its RTP time, moved by the very offset the stream's packets were moved by.
        assert report.rtp_timestamp == (source.rtp_timestamp + mapper.timestamp_offset) & 0xFFFFFFFF
        assert report.packets <= outbound[kind].packets_sent


async def test_malformed_packets_are_dropped_and_counted_and_the_leg_goes_on(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, _visitor, adviser = await live_call(new_call, new_client, until)
    session = call.leg("visitor").rtp
    before = dict(RTP_DROPS)
    stranger = struct.pack("!BBHII", 0x80, 96, 1, 2, 0x5EED) + bytes(
        [0x10, 0, 0, 0]
    )  # an SSRC never announced
    for data in (b"\x80\x60\x00", struct.pack("!BBHII", 0x40, 96, 1, 2, 3) + b"x", stranger):
        session.on_rtp(data)
    session.on_rtcp(b"\x81\xc9\x00\x01\x00\x00\x00\x01")  # a report block announced, none there
    session.on_rtcp(rtcp.pli(1, 0xBAD))  # feedback for a stream nobody sends

    assert session.drops == {
        "truncated": 1,
        "bad_version": 1,
        "unknown_ssrc": 1,
        "rtcp_truncated": 1,
        "rtcp_unknown_ssrc": 1,
    }
    for reason, count in session.drops.items():
        assert RTP_DROPS[reason] - before.get(reason, 0) >= count
    frames = adviser.received["video"].frames
    await until(lambda: adviser.received["video"].frames > frames + 10, 5)


def test_drops_are_exported_to_prometheus() -> None:
    registry = CollectorRegistry()
    registry.register(RtpDropsCollector())
    before = RTP_DROPS["bad_version"]
    RtpSession("metrics-test").on_rtp(struct.pack("!BBHII", 0x40, 96, 1, 2, 3))
    text = generate_latest(registry).decode()
    assert f'loket_media_rtp_dropped_total{{reason="bad_version"}} {float(before + 1)}' in text


async def test_the_partys_receiver_reports_give_the_legs_losses_and_round_trip_time(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call, _visitor, adviser = await live_call(new_call, new_client, until)
    outbound = call.leg("adviser").outbound["video"]
    reports: list[rtcp.SenderReport] = []
    transport = video_of(adviser).receiver.transport
    original = transport._handle_rtcp_data

    async def capture(data: bytes) -> None:
        reports.extend(
            p for p in rtcp.parse_rtcp(data) if isinstance(p, rtcp.SenderReport) and p.ssrc == outbound.ssrc
        )
        await original(data)

    transport._handle_rtcp_data = capture
    await until(lambda: bool(reports), 10)
    assert call.leg("adviser").rtp_statistics().rtt_seconds is None

    # As a browser reports: 5 packets lost, the last SR echoed (LSR) after holding it 10 ms (DLSR).
    block = rtcp.ReportBlock(outbound.ssrc, 3, 5, 1000, 0, (reports[-1].ntp >> 16) & 0xFFFFFFFF, 655)
    await hooks.send_rtcp(video_of(adviser), rtcp.receiver_report(rtcp.ReceiverReport(1, [block])))

    await until(lambda: call.leg("adviser").rtp_statistics().rtt_seconds is not None, 5)
    statistics = call.leg("adviser").rtp_statistics()
    assert statistics.packets_lost_outbound == 5
    assert statistics.rtt_seconds is not None and 0 <= statistics.rtt_seconds < 2.0
    assert statistics.packets_received > 0 and statistics.packets_lost_inbound == 0
