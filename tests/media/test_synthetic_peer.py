"""The synthetic peer: a pre-encoded loop out, RTP counted in; nothing encoded or decoded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import av
import pytest
from aiortc import RTCDtlsTransport, RTCSessionDescription
from aiortc.codecs import opus, vpx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media import AiortcInternalsError, check_aiortc_internals
from media import _aiortc_hooks as hooks
from media.synthetic import encoded_loop, frame_trailer, is_vp8_keyframe, read_frame_trailer
from media.synthetic_peer import RtpCounter, SyntheticPeer, vp8_descriptor_length

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
RTX = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def test_the_loop_is_encoded_once_per_process_and_starts_with_its_only_keyframe() -> None:
    loop = encoded_loop()
    assert encoded_loop() is loop
    assert len(loop.video) == 120 and loop.fps == 20
    assert [is_vp8_keyframe(frame) for frame in loop.video] == [True] + [False] * 119
    assert len(loop.audio) >= 50  # one second of 20 ms Opus frames


@pytest.mark.parametrize("decoder", ["vp8", "libvpx"])
def test_frames_with_their_number_trailer_decode_whole_in_ffmpeg_and_libvpx(decoder: str) -> None:
    codec = av.CodecContext.create(decoder, "r")
    frames = []
    for number, data in enumerate(encoded_loop().video):
        frames += codec.decode(av.Packet(data + frame_trailer(number)))
    assert len(frames) == 120
    assert {(f.width, f.height) for f in frames} == {(640, 480)}


def test_a_trailer_reads_back_and_a_frame_without_one_has_no_number() -> None:
    assert read_frame_trailer(b"vp8 data" + frame_trailer(70_000)) == 70_000
    assert read_frame_trailer(encoded_loop().video[1]) is None
    assert read_frame_trailer(b"short") is None


def rtp(sequence: int, payload: bytes, *, marker: int = 0, ssrc: int = 1, timestamp: int = 0) -> RtpPacket:
    return RtpPacket(
        payload_type=96,
        marker=marker,
        sequence_number=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=payload,
    )


START = bytes([0x90, 0x80, 0x81, 0x23])  # X, S, partition 0; I; 15-bit picture id (RFC 7741)
MIDDLE = bytes([0x80, 0x80, 0x81, 0x23])


def packets_of(sequence: int, number: int, *, size: int = 2600, keyframe: bool = False) -> list[RtpPacket]:
    """One numbered frame in 1300-byte packets, as aiortc's VP8 packetizer cuts it."""
    frame = bytes([0x00 if keyframe else 0x01]) + bytes(size - 1) + frame_trailer(number)
    chunks = [frame[i : i + 1296] for i in range(0, len(frame), 1296)]
    return [
        rtp(
            (sequence + i) & 0xFFFF,
            (START if i == 0 else MIDDLE) + chunk,
            marker=int(i == len(chunks) - 1),
            timestamp=number * 4500,
        )
        for i, chunk in enumerate(chunks)
    ]


def test_the_vp8_descriptor_length_follows_its_flags() -> None:
    assert vp8_descriptor_length(bytes([0x10])) == 1
    assert vp8_descriptor_length(START) == 4
    assert vp8_descriptor_length(bytes([0x90, 0x80, 0x05])) == 3  # 7-bit picture id
    assert vp8_descriptor_length(bytes([0x90, 0xF0, 0x81, 0x23, 0x01, 0x02])) == 6  # I, L, T/K


def test_whole_frames_are_counted_across_a_sequence_wrap_and_a_trailer_split_over_packets() -> None:
    counter = RtpCounter("video", clock=lambda: 5.0)
    sequence = 65530
    # 2590 + 8 bytes: the last packet carries 6 data bytes, the trailer starts in the one before.
    for number, size in enumerate((2600, 2590, 100)):
        for packet in packets_of(sequence, number, size=size, keyframe=number == 0):
            counter.add(packet, VP8)
            sequence = (packet.sequence_number + 1) & 0xFFFF
    assert counter.numbers == [0, 1, 2]
    assert (counter.frames, counter.keyframes, counter.damaged_frames) == (3, 1, 0)
    assert (counter.packets, counter.expected, counter.lost) == (7, 7, 0)
    assert counter.first_frame_at == 5.0 and counter.arrivals == [5.0] * 3


def test_a_gap_damages_its_frame_and_counts_as_loss_while_rtx_is_not_counted() -> None:
    counter = RtpCounter("video")
    frames = [packets_of(100 + 3 * n, n) for n in range(6)]
    second = frames[1]
    for packet in [*frames[0], second[0], second[2], *[p for f in frames[2:] for p in f]]:  # second[1] lost
        counter.add(packet, VP8)
    counter.add(rtp(104, b"\x00\x00" + MIDDLE), RTX)  # a retransmission is not counted
    assert counter.numbers == [0, 2, 3, 4, 5]
    assert (counter.frames, counter.damaged_frames) == (5, 1)
    assert (counter.packets, counter.expected, counter.lost) == (17, 18, 1)


def test_a_packet_that_comes_late_completes_its_frame() -> None:
    counter = RtpCounter("video")
    first, second, third = packets_of(100, 0), packets_of(103, 1), packets_of(106, 2)
    for packet in [*first, second[0], second[2], *third, second[1]]:  # second[1] retransmitted late
        counter.add(packet, VP8)
    assert sorted(counter.numbers) == [0, 1, 2]
    assert (counter.frames, counter.damaged_frames, counter.lost) == (3, 0, 0)


def test_a_new_stream_keeps_the_counts_of_the_one_before() -> None:
    counter = RtpCounter("audio")
    for sequence in (10, 11, 13):
        counter.add(rtp(sequence, b"opus", ssrc=1), OPUS)
    for sequence in (500, 501):
        counter.add(rtp(sequence, b"opus", ssrc=2), OPUS)
    assert (counter.frames, counter.expected, counter.lost) == (5, 6, 1)


@pytest.fixture
async def peers() -> AsyncIterator[tuple[SyntheticPeer, SyntheticPeer]]:
    """Two synthetic peers on loopback, the first offering straight to the second."""
    sender, receiver = SyntheticPeer.create(), SyntheticPeer.create()
    offer = await sender.offer()
    await receiver.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type=offer.type))
    await receiver.pc.setLocalDescription(await receiver.pc.createAnswer())
    await sender.accept(receiver.pc.localDescription.sdp, "answer")
    yield sender, receiver
    await sender.close()
    await receiver.close()


async def test_a_peer_sends_the_looped_frames_that_another_counts_at_the_rtp_level_without_decoding(
    peers: tuple[SyntheticPeer, SyntheticPeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    used: dict[str, int] = {}

    def spy(cls: type, method: str) -> None:
        original = getattr(cls, method)

        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            used[f"{cls.__name__}.{method}"] = used.get(f"{cls.__name__}.{method}", 0) + 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    for codec in (vpx.Vp8Encoder, opus.OpusEncoder):
        spy(codec, "encode")
        spy(codec, "pack")
    for codec in (vpx.Vp8Decoder, opus.OpusDecoder):
        spy(codec, "decode")
    sender, receiver = peers
    assert sender.video is not None
    await receiver.first_video_within(5)
    await asyncio.sleep(2.0)

    video, audio = receiver.received["video"], receiver.received["audio"]
    assert isinstance(video, RtpCounter) and isinstance(audio, RtpCounter)
    # Every frame sent arrived whole, in order, numbered from 0 (the last may be on its way).
    assert video.numbers == list(range(len(video.numbers)))
    assert len(video.numbers) >= sender.video.frames_sent - 2 and sender.video.frames_sent >= 30
    assert video.keyframes == 1 and video.damaged_frames == 0 and video.lost == 0
    assert audio.frames >= 0.9 * 50 * 2 and audio.lost == 0
    # Both peers send their packets built once: aiortc neither encodes, packetizes nor decodes.
    assert sender.sending["video"].packets_sent >= 40 and sender.sending["audio"].packets_sent >= 100
    assert receiver.sending["video"].packets_sent >= 40
    assert not used, used


async def test_a_keyframe_request_restarts_the_loop_at_its_keyframe(
    peers: tuple[SyntheticPeer, SyntheticPeer],
) -> None:
    sender, receiver = peers
    assert sender.video is not None
    await receiver.first_video_within(5)
    await asyncio.sleep(0.5)
    video = receiver.received["video"]
    assert isinstance(video, RtpCounter) and video.keyframes == 1
    [transceiver] = [t for t in receiver.pc.getTransceivers() if t.kind == "video"]
    [sender_video] = [t for t in sender.pc.getTransceivers() if t.kind == "video"]
    await hooks.send_picture_loss_indication(transceiver.receiver, sender_video.sender._ssrc)
    async with asyncio.timeout(5):
        while video.keyframes < 2:  # noqa: ASYNC110 (counted inside aiortc's RTP handling)
            await asyncio.sleep(0.01)
    assert sender.video.keyframe_requests == 1
    # The numbers go on: a keyframe is the loop's first frame, not the stream's.
    assert video.numbers == list(range(len(video.numbers)))


def test_a_changed_rtp_path_in_aiortc_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks._verify.cache_clear()
    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", lambda self, data, arrival_time_ms: None)
    try:
        with pytest.raises(
            AiortcInternalsError, match=r"_handle_rtp_data awaiting receiver\._handle_rtp_packet"
        ):
            check_aiortc_internals()
    finally:
        monkeypatch.undo()
        hooks._verify.cache_clear()
