"""A party's network changes mid-call: it offers again from a new ``RTCPeerConnection`` (new
ICE credentials, new ports) and the server gives it a fresh leg, leaving the other alone.

Real aiortc peers on loopback, relayed by a ``MediaCall``. The goal is media back within 5 s
at both ends; the bounds asserted here are looser, for a loaded 2-core machine, and the
measured times are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription

from media import MediaCall, MediaConfig, NegotiationError
from media.leg import transport_identity
from media.placement import InProcessPlacement
from tests.media.conftest import cut_network, transport_ports

# The goal is 5 s (issue "Media nodes"); this bound leaves room for a machine under load.
RESUME_BOUND_S = 10.0


def receiving(*clients: Any, kind: str = "video") -> bool:
    return all(kind in c.received and c.received[kind].frames > 0 for c in clients)


async def live_call(call: Any, new_client: Any, until: Any) -> tuple[Any, Any]:
    visitor, adviser = new_client(), new_client()
    await visitor.offer_through(call, "visitor")
    await adviser.offer_through(call, "adviser")
    await until(lambda: receiving(visitor, adviser) and receiving(visitor, adviser, kind="audio"), 15)
    return visitor, adviser


def first_of_new_sender(counter: Any, since: int) -> int | None:
    """The index of the first frame, from ``since`` on, whose number went back: the first
    frame of a new sender (a new synthetic track numbers its frames from 0)."""
    numbers = counter.numbers
    for index in range(max(since, 1), len(numbers)):
        if numbers[index] < numbers[index - 1]:
            return index
    return None


async def test_a_party_that_replaces_its_peer_connection_gets_media_back_and_the_other_is_untouched(
    new_call: Any, new_client: Any, until: Any
) -> None:
    ended: list[str] = []
    call = new_call(on_ended=lambda c, reason: ended.append(reason))
    visitor, adviser = await live_call(call, new_client, until)
    await asyncio.sleep(2.0)  # the visitor's frame numbers are well past where a new one starts
    old_leg, adviser_leg = call.leg("visitor"), call.leg("adviser")
    adviser_remote, adviser_local = adviser.pc.remoteDescription.sdp, adviser.pc.localDescription.sdp
    adviser_signaling: list[str] = []
    adviser.pc.on("signalingstatechange", lambda: adviser_signaling.append(adviser.pc.signalingState))
    adviser_states: list[str] = []
    adviser.pc.on("connectionstatechange", lambda: adviser_states.append(adviser.pc.connectionState))
    adviser_plis = adviser_leg.inbound["video"].keyframe_requests_sent

    # The visitor's phone leaves the Wi-Fi: its old path goes silent.
    cut_network(visitor.pc)
    await asyncio.sleep(1.0)
    adviser_had = adviser.received["video"].frames
    adviser_audio_had = adviser.received["audio"].frames

    # Its widget makes a new RTCPeerConnection with the same tracks and offers again.
    replacement = new_client()
    offered = time.monotonic()
    await replacement.offer_through(call, "visitor")
    answered = time.monotonic()

    await until(lambda: receiving(replacement), 20)
    visitor_back = replacement.received["video"].first_frame_at - offered
    # (aiortc's receiver hands over a frame when the next one starts: the old leg's last
    # frame may arrive just before the new leg's first.)
    await until(lambda: first_of_new_sender(adviser.received["video"], adviser_had) is not None, 20)
    first_new = first_of_new_sender(adviser.received["video"], adviser_had)
    assert first_new is not None and first_new <= adviser_had + 1
    adviser_back = adviser.received["video"].arrivals[first_new] - offered
    await until(lambda: adviser.received["audio"].frames > adviser_audio_had + 10, 20)
    print(
        f"\nreplacement: answered in {answered - offered:.2f} s; video back at the visitor after "
        f"{visitor_back:.2f} s, at the adviser after {adviser_back:.2f} s"
    )
    assert visitor_back < RESUME_BOUND_S
    assert adviser_back < RESUME_BOUND_S

    # A fresh leg, on another transport: new credentials, new ports.
    assert call.leg("visitor") is not old_leg
    assert call.replacements == {"visitor": 1, "adviser": 0}
    old, new = (
        transport_identity(visitor.pc.localDescription.sdp),
        transport_identity(replacement.pc.localDescription.sdp),
    )
    assert old[:2] != new[:2] and old[2] != new[2]
    assert not transport_ports(visitor.pc) & transport_ports(replacement.pc)
    await until(lambda: old_leg.closed, 10)
    # What reaches the adviser now is the new connection's video, in order.
    numbers = adviser.received["video"].numbers
    assert numbers[first_new:] == sorted(numbers[first_new:])
    # One continuous stream for the adviser across the replacement: the same SSRC, sequence
    # numbers going on (what the visitor's old path lost while cut off is not a gap: those
    # packets never reached the server, so they never got outbound numbers).
    adviser_video = adviser.received["video"]
    assert adviser_video.streams == 1
    assert adviser_video.lost <= 0.02 * adviser_video.expected, (adviser_video.lost, adviser_video.expected)
    # The adviser's side: asked for a keyframe for the new leg, and never renegotiated.
    assert adviser_leg.inbound["video"].keyframe_requests_sent > adviser_plis
    assert call.leg("adviser") is adviser_leg
    assert adviser_leg.connection_state == "connected"
    assert adviser.pc.remoteDescription.sdp == adviser_remote
    assert adviser.pc.localDescription.sdp == adviser_local
    assert adviser.pc.signalingState == "stable"
    assert adviser_signaling == [] and adviser_states == []
    # The call is up: nothing ended, and media keeps flowing both ways.
    assert ended == [] and not call.closed
    before = (replacement.received["video"].frames, adviser.received["video"].frames)
    await asyncio.sleep(1.5)
    assert replacement.received["video"].frames > before[0] + 10
    assert adviser.received["video"].frames > before[1] + 10


async def test_an_offer_with_the_same_ice_credentials_renegotiates_the_same_leg(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call = new_call()
    visitor, adviser = await live_call(call, new_client, until)
    leg = call.leg("visitor")
    credentials = transport_identity(visitor.pc.localDescription.sdp)

    await visitor.offer_through(call, "visitor")  # the same connection offers again

    assert transport_identity(visitor.pc.localDescription.sdp) == credentials
    assert call.leg("visitor") is leg and not leg.closed
    assert call.replacements == {"visitor": 0, "adviser": 0}
    frames = adviser.received["video"].frames
    await until(lambda: adviser.received["video"].frames > frames + 10, 10)
    assert leg.connection_state == "connected"


async def test_a_bad_offer_from_a_new_transport_leaves_the_leg_as_it_was(
    new_call: Any, new_client: Any, until: Any
) -> None:
    call = new_call()
    _visitor, adviser = await live_call(call, new_client, until)
    leg = call.leg("visitor")

    with pytest.raises(NegotiationError):
        await call.answer("visitor", "v=0\r\nnot sdp\r\n", "offer")

    assert call.leg("visitor") is leg and not call.closed
    frames = adviser.received["video"].frames
    await until(lambda: adviser.received["video"].frames > frames + 10, 10)


async def test_a_failed_leg_waits_for_its_party_to_offer_again(
    new_call: Any, new_client: Any, until: Any
) -> None:
    ended: list[str] = []
    call = new_call(on_ended=lambda c, reason: ended.append(reason))
    _visitor, adviser = await live_call(call, new_client, until)
    leg = call.leg("visitor")

    # The server gives up on the visitor's path (as when consent expires, RFC 7675 §5.1).
    await server_ice_connection(leg).close()
    await until(lambda: leg.closed, 10)
    assert leg.failed
    await asyncio.sleep(0.5)
    assert ended == [] and not call.closed

    replacement = new_client()
    await replacement.offer_through(call, "visitor")
    await until(lambda: receiving(replacement), 20)
    frames = adviser.received["video"].frames
    await until(lambda: adviser.received["video"].frames > frames + 10, 20)
    assert ended == [] and not call.closed


async def test_a_failed_leg_whose_party_does_not_come_back_ends_the_call(new_client: Any, until: Any) -> None:
    ended: list[str] = []
    call = MediaCall(
        config=MediaConfig(allow_private_candidates=True, rejoin_grace_s=0.5),
        on_ended=lambda c, reason: ended.append(reason),
    )
    try:
        await live_call(call, new_client, until)
        await server_ice_connection(call.leg("adviser")).close()
        async with asyncio.timeout(10):
            await call.wait_closed()
        assert ended == ["adviser_left"]
    finally:
        await call.close()


async def test_a_recording_goes_on_in_the_same_file_across_a_replaced_leg(
    media_config: MediaConfig, new_client: Any, until: Any, tmp_path: Path
) -> None:
    placement = InProcessPlacement(media_config)
    try:
        visitor, adviser = new_client(), new_client()
        for party, client in (("visitor", visitor), ("adviser", adviser)):
            await offer_via(placement, "call-1", party, client)
        await until(lambda: receiving(visitor, adviser), 15)
        path = tmp_path / "visitor.webm"
        await placement.start_recording("call-1", {"visitor": path})
        await asyncio.sleep(2.0)

        cut_network(visitor.pc)
        replacement = new_client()
        await offer_via(placement, "call-1", "visitor", replacement)
        await until(lambda: replacement.video.frames_sent > 0, 10)
        sent_before = replacement.video.frames_sent
        await asyncio.sleep(2.5)
        sent_after = replacement.video.frames_sent
        result = (await placement.stop_recording("call-1"))["visitor"]
    finally:
        await placement.stop()

    assert result.path == path and result.dropped == 0
    with av.open(str(path)) as container:
        frames = [packet for packet in container.demux(video=0) if packet.size]
        decoded = sum(len(packet.decode()) for packet in frames)
    assert decoded == len(frames) == result.video_frames
    # About 2 s before the replacement and most of the 2.5 s after it, in one file.
    assert result.video_frames >= 20 * 2.0 * 0.8 + (sent_after - sent_before) * 0.8
    assert result.duration_seconds >= 4.0


async def offer_via(placement: InProcessPlacement, call_id: str, party: Any, client: Any) -> None:
    await client.pc.setLocalDescription(await client.pc.createOffer())
    sdp, sdp_type = await placement.answer(call_id, party, client.pc.localDescription.sdp, "offer")
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))


def server_ice_connection(leg: Any) -> Any:
    """The aioice ``Connection`` under a server leg (a test may reach it)."""
    return leg._pc.getTransceivers()[0].receiver.transport.transport._connection


async def test_a_released_adviser_leg_ends_nothing_and_the_next_adviser_gets_the_visitors_media(
    new_call: Any, new_client: Any, until: Any
) -> None:
    """A transfer (signaling.transfer): the adviser's leg is retired for a fresh one; the old
    adviser hanging up ends nothing; the next adviser's offer is answered on the fresh leg and
    the visitor, on the same leg throughout, receives them."""
    ended: list[str] = []
    call = new_call(on_ended=lambda c, reason: ended.append(reason))
    visitor, adviser = await live_call(call, new_client, until)
    visitor_leg = call.leg("visitor")

    await call.release("adviser")
    await adviser.close()  # the first adviser's console lets go of its connection
    await asyncio.sleep(0.5)
    assert ended == [] and not call.closed

    seen = visitor.received["video"].frames
    following = new_client()
    await following.offer_through(call, "adviser")
    await until(lambda: receiving(following) and receiving(following, kind="audio"), 20)
    await until(lambda: visitor.received["video"].frames > seen + 10, 20)
    assert call.leg("visitor") is visitor_leg and ended == []
