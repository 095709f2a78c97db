"""Two real aiortc clients in one process, relayed by a ``MediaCall`` on loopback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.codecs import opus, vpx

from media import _aiortc_hooks as hooks

FPS = 20
AUDIO_FPS = 50  # 20 ms Opus frames


def receiving(*clients: Any, kind: str = "video") -> bool:
    return all(kind in c.received and c.received[kind].frames > 0 for c in clients)


async def connect_both(call: Any, visitor: Any, adviser: Any, until: Any) -> None:
    await visitor.offer_to(call.leg("visitor"))
    await adviser.offer_to(call.leg("adviser"))
    await until(lambda: receiving(visitor, adviser) and receiving(visitor, adviser, kind="audio"))


async def test_frames_flow_both_ways_at_the_sent_rate(new_call: Any, new_client: Any, until: Any) -> None:
    call = new_call()
    visitor, adviser = new_client(), new_client()
    await connect_both(call, visitor, adviser, until)

    window = 3.0
    before = {
        id(c): (c.received["video"].frames, c.received["audio"].frames, c.video.frames_sent)
        for c in (visitor, adviser)
    }
    await asyncio.sleep(window)

    for receiver, sender in ((visitor, adviser), (adviser, visitor)):
        video_before, audio_before, _ = before[id(receiver)]
        sent = sender.video.frames_sent - before[id(sender)][2]
        video = receiver.received["video"].frames - video_before
        audio = receiver.received["audio"].frames - audio_before
        assert sent >= 0.9 * FPS * window
        assert video >= 0.9 * sent, f"received {video} of {sent} video frames"
        assert audio >= 0.9 * AUDIO_FPS * window, f"received {audio} audio frames"
        # What arrives is the other party's video, in order, nothing missing.
        numbers = receiver.received["video"].numbers
        assert numbers == sorted(set(numbers))
        assert len(numbers) >= 0.98 * (numbers[-1] - numbers[0] + 1)


async def test_server_forwards_without_decoding_or_encoding(
    new_call: Any, new_client: Any, until: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record every aiortc codec instance that decodes or encodes, in any peer in this
    # process. The clients (the synthetic peer) send a pre-encoded loop and count RTP, so
    # they neither decode nor encode: any instance would be the server transcoding.
    used: dict[str, set[int]] = {}

    def spy(cls: type, method: str) -> None:
        original = getattr(cls, method)

        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            used.setdefault(f"{cls.__name__}.{method}", set()).add(id(self))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    for decoder in (vpx.Vp8Decoder, opus.OpusDecoder):
        spy(decoder, "decode")
    for encoder in (vpx.Vp8Encoder, opus.OpusEncoder):
        spy(encoder, "encode")
        spy(encoder, "pack")

    call = new_call()
    visitor, adviser = new_client(), new_client()
    await connect_both(call, visitor, adviser, until)
    await asyncio.sleep(1.0)

    # Nobody decodes, encodes or packetizes with aiortc: the clients send packets built once,
    # and the server forwards RTP packets with no aiortc sender or receiver of its own running.
    assert not used, used
    for party in ("visitor", "adviser"):
        leg = call.leg(party)
        transceivers = leg._pc.getTransceivers()
        assert transceivers and all(hooks.is_bypassed(t) for t in transceivers)
        assert leg.rtp.outbound["video"].packets_sent > 0 and leg.rtp.outbound["audio"].packets_sent > 0


async def test_adviser_joining_late_gets_a_keyframe_within_a_second(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call = new_call()
    visitor = new_client()
    await visitor.offer_to(call.leg("visitor"))
    await visitor.wait_connected()
    await asyncio.sleep(3.0)  # the visitor's encoder is long past its first keyframe

    adviser = new_client()
    joined = time.monotonic()
    await adviser.offer_to(call.leg("adviser"))
    await until(lambda: receiving(adviser), timeout=5.0)

    delay = adviser.received["video"].first_frame_at - joined
    assert delay < 1.0, f"first video frame after {delay:.2f} s"
    assert call.leg("visitor").inbound["video"].keyframe_requests_sent >= 1


async def test_closing_one_leg_ends_the_call_on_both_sides(
    new_call: Any, new_client: Any, until: Any
) -> None:
    ended: list[str] = []
    call = new_call(on_ended=lambda c, reason: ended.append(reason))
    visitor, adviser = new_client(), new_client()
    await connect_both(call, visitor, adviser, until)

    await call.leg("visitor").close()
    async with asyncio.timeout(5):
        await call.wait_closed()

    assert ended == ["visitor_left"]
    assert call.leg("adviser").closed
    await until(lambda: adviser.pc.connectionState == "closed")
    await call.leg("visitor").close()  # idempotent
    await call.close()
    assert ended == ["visitor_left"]


async def test_party_closing_its_connection_fires_the_legs_closed_callback(
    new_call: Any, new_client: Any, until: Any
) -> None:
    ended: list[str] = []
    call = new_call(on_ended=lambda c, reason: ended.append(reason))
    visitor, adviser = new_client(), new_client()
    await connect_both(call, visitor, adviser, until)

    await adviser.pc.close()
    async with asyncio.timeout(5):
        await call.wait_closed()

    assert ended == ["adviser_left"]
    assert call.leg("visitor").closed
    await until(lambda: visitor.pc.connectionState == "closed")


async def test_renegotiation_keeps_media_flowing(new_call: Any, new_client: Any, until: Any) -> None:
    call = new_call()
    visitor, adviser = new_client(), new_client()
    await connect_both(call, visitor, adviser, until)

    await visitor.offer_to(call.leg("visitor"))  # same connection, new offer
    assert visitor.pc.signalingState == "stable"
    frames = {id(c): c.received["video"].frames for c in (visitor, adviser)}
    await asyncio.sleep(2.0)

    for client in (visitor, adviser):
        assert client.received["video"].frames - frames[id(client)] >= 0.8 * FPS * 2
    assert call.leg("visitor").connection_state == "connected"


async def offer_video(*mimes: str) -> tuple[Any, str]:
    """An aiortc peer offering video in the codecs ``mimes`` (in that order), and its offer."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendrecv")
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for m in mimes for c in capabilities if c.mimeType == m])
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_both_legs_are_answered_with_the_same_video_codec(new_call: Any) -> None:
    call = new_call()
    visitor_pc, visitor_offer = await offer_video("video/H264")  # this visitor only has H.264
    adviser_pc, adviser_offer = await offer_video("video/VP8", "video/H264")  # the adviser prefers VP8
    try:
        await call.answer("visitor", visitor_offer)
        await call.answer("adviser", adviser_offer)
        # Packets are forwarded, never transcoded: the adviser's leg follows the visitor's codec.
        assert call.leg("visitor").negotiated_video() == "video/H264"
        assert call.leg("adviser").negotiated_video() == "video/H264"
    finally:
        await visitor_pc.close()
        await adviser_pc.close()
