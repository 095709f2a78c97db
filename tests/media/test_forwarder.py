"""``Forwarder`` with a small fake source and a real ``OutboundTrack``."""

from __future__ import annotations

import asyncio
import fractions
import itertools
from typing import Any

import av
import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media import EncodedFrame, Forwarder, OutboundTrack
from media.frames import is_keyframe
from tests.media.conftest import FakeClock, FakeSource

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=99)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def vp8(
    timestamp: int, *, key: bool = False, discontinuity: bool = False, truncated: bool = False
) -> EncodedFrame:
    first_partition = 40
    tag = (0 if key else 1) | 1 << 4 | first_partition << 5
    header = tag.to_bytes(3, "little") + (b"\x9d\x01\x2a\x80\x02\xe0\x01" if key else b"")
    data = header + bytes(10 if truncated else 200)
    assert is_keyframe("video/VP8", data) == key
    return EncodedFrame(
        kind="video",
        mime_type="video/VP8",
        clock_rate=90000,
        data=data,
        timestamp=timestamp,
        keyframe=key,
        discontinuity=discontinuity,
        complete=not truncated,
    )


def opus_frame(timestamp: int) -> EncodedFrame:
    return EncodedFrame(
        kind="audio",
        mime_type="audio/opus",
        clock_rate=48000,
        data=b"\xfc" + bytes(60),
        timestamp=timestamp,
        keyframe=True,
    )


async def start_consuming(track: OutboundTrack) -> asyncio.Task[av.Packet[Any]]:
    """Act as the sender: its first recv() makes the track a consumed one."""
    task = asyncio.get_running_loop().create_task(track.recv())
    await asyncio.sleep(0)
    assert track.consuming
    return task


async def drain(
    track: OutboundTrack, first: asyncio.Task[av.Packet[Any]] | None = None
) -> list[av.Packet[Any]]:
    packets = []
    if first is not None:
        if not first.done():
            await asyncio.sleep(0)
        if first.done():
            packets.append(first.result())
        else:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
    while track._queue:
        packets.append(await track.recv())
    return packets


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def video() -> tuple[FakeSource, OutboundTrack]:
    sink = OutboundTrack("video", max_queued=3)
    sink.codec = VP8
    return FakeSource("video"), sink


async def test_video_starts_at_a_keyframe_requested_when_the_consumer_attaches(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    source.emit(vp8(0, key=True))  # nobody reads the sender yet
    assert forwarder.stats.dropped == 1

    first = await start_consuming(sink)
    assert source.keyframe_requests == 1
    source.emit(vp8(3000))
    source.emit(vp8(6000, key=True))
    source.emit(vp8(9000))

    packets = await drain(sink, first)
    assert [is_keyframe("video/VP8", bytes(p)) for p in packets] == [True, False]
    assert forwarder.stats.forwarded == 2
    forwarder.stop()
    sink.stop()


async def test_lost_packets_hold_video_until_the_next_keyframe(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    source.emit(vp8(0, key=True))
    assert len(await drain(sink, first)) == 1
    requests = source.keyframe_requests

    source.emit(vp8(3000, discontinuity=True))  # packets before this frame were lost
    source.emit(vp8(6000))
    assert source.keyframe_requests == requests + 1
    assert len(await drain(sink)) == 0

    source.emit(vp8(9000, key=True, discontinuity=True))
    source.emit(vp8(12000))
    assert len(await drain(sink)) == 2
    sink.stop()


async def test_incomplete_frame_is_dropped_and_a_keyframe_requested(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    source.emit(vp8(0, key=True))
    requests = source.keyframe_requests

    source.emit(vp8(3000, truncated=True))
    source.emit(vp8(6000))

    assert len(await drain(sink, first)) == 1
    assert source.keyframe_requests == requests + 1
    sink.stop()


async def test_waiting_for_a_keyframe_repeats_the_request(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, keyframe_retry_s=0.5, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    assert source.keyframe_requests == 1
    source.emit(vp8(0))
    clock.now += 0.2
    source.emit(vp8(3000))
    assert source.keyframe_requests == 1
    clock.now += 0.4
    source.emit(vp8(6000))
    assert source.keyframe_requests == 2
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    sink.stop()


async def test_keyframe_requests_from_downstream_go_upstream(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    sink.request_keyframe()  # the receiving peer sent PLI or FIR for this sender
    assert source.keyframe_requests == 1
    forwarder.stop()
    sink.request_keyframe()
    assert source.keyframe_requests == 1


async def test_timestamps_stay_increasing_when_upstream_restarts(clock: FakeClock) -> None:
    source, sink = FakeSource("video"), OutboundTrack("video", max_queued=10)
    sink.codec = VP8
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    timestamps = [0, 3000, 6000, 500, 3500, 6500 + 3600 * 90000, 6500 + 3600 * 90000 + 3000]
    for ts in timestamps:
        source.emit(vp8(ts, key=True))
        clock.now += 1 / 30
    packets = await drain(sink, first)

    pts = [p.pts for p in packets if p.pts is not None]
    assert len(pts) == len(timestamps)
    assert pts[:3] == [0, 3000, 6000]
    assert all(b > a for a, b in itertools.pairwise(pts))
    # After each restart the timeline continues by wall-clock time (1/30 s = 3000 ticks).
    assert pts[3] - pts[2] == 3000
    assert pts[4] - pts[3] == 3000
    assert pts[5] - pts[4] == 3000
    assert pts[6] - pts[5] == 3000
    sink.stop()


async def test_audio_is_forwarded_without_keyframe_gating(clock: FakeClock) -> None:
    source, sink = FakeSource("audio"), OutboundTrack("audio", max_queued=2)
    sink.codec = OPUS
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    sink.request_keyframe()
    assert source.keyframe_requests == 0
    for i in range(4):
        source.emit(opus_frame(i * 960))
    packets = await drain(sink, first)
    # The sender read nothing meanwhile: a queue of 2 keeps the newest two frames.
    assert [p.pts for p in packets] == [1920, 2880]
    assert packets[0].time_base == fractions.Fraction(1, 48000)
    assert forwarder.stats.forwarded == 4
    assert sink.frames_dropped == 2
    sink.stop()


async def test_frames_of_another_codec_are_not_forwarded(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    sink.codec = H264
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    source.emit(vp8(0, key=True))
    assert forwarder.stats.dropped == 1
    assert await drain(sink, first) == []
    sink.stop()


async def test_an_overflowing_sender_restarts_at_a_keyframe(
    video: tuple[FakeSource, OutboundTrack], clock: FakeClock
) -> None:
    source, sink = video
    forwarder = Forwarder(source, sink, clock=clock)
    forwarder.start()
    first = await start_consuming(sink)
    source.emit(vp8(0, key=True))  # taken by the waiting recv()
    await first
    requests = source.keyframe_requests
    for i in range(1, 5):  # the sender reads nothing: its queue of 3 overflows
        source.emit(vp8(i * 3000))
    assert source.keyframe_requests == requests + 1
    assert len(await drain(sink)) == 0
    source.emit(vp8(15000))
    source.emit(vp8(18000, key=True))
    packets = await drain(sink)
    assert len(packets) == 1 and is_keyframe("video/VP8", bytes(packets[0]))
    sink.stop()


async def test_stopped_track_ends_the_senders_read() -> None:
    sink = OutboundTrack("video", max_queued=3)
    task = asyncio.get_running_loop().create_task(sink.recv())
    await asyncio.sleep(0)
    sink.stop()
    with pytest.raises(MediaStreamError):
        await task


def test_forwarder_refuses_mismatched_kinds() -> None:
    with pytest.raises(ValueError, match="audio"):
        Forwarder(FakeSource("audio"), OutboundTrack("video", max_queued=1))
