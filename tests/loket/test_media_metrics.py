"""Media metrics from a real call: two aiortc peers through the embedded server's media, read
from its internal /metrics (calls, legs, forwarded media, keyframe requests, RTT per leg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.contrib.media import MediaBlackhole

from tests.conftest import Client, World, paired
from tests.loket.observing import Start, scrape, start, value
from tests.signaling.conftest import Peer

__all__ = ["start"]

pytestmark = [pytest.mark.parametrize("backend", ["embedded"], indirect=True), pytest.mark.timeout(60)]


async def plain_peer(client: Client) -> RTCPeerConnection:
    """An aiortc peer with aiortc's own test tracks, offering through ``client``."""
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    sink = MediaBlackhole()
    pc.on("track", sink.addTrack)
    await pc.setLocalDescription(await pc.createOffer())
    ack = await client.call("rtc:offer", {"sdp": pc.localDescription.sdp, "type": "offer"})
    assert ack["ok"], ack
    await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], ack["type"]))
    await sink.start()
    return pc


@pytest.fixture
async def peers() -> AsyncIterator[Callable[[], Peer]]:
    made: list[Peer] = []

    def make() -> Peer:
        peer = Peer.create()
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


async def eventually(
    server: Any, check: Callable[[dict[str, Any]], bool], seconds: float = 15
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        families = await scrape(server)
        if check(families) or asyncio.get_running_loop().time() > deadline:
            return families
        await asyncio.sleep(0.5)


def rtt_samples(families: dict[str, Any], call_id: str) -> dict[str, float]:
    """party -> RTT of the call's legs that have one."""
    return {
        sample.labels["party"]: sample.value
        for sample in families["loket_media_leg_rtt_seconds"].samples
        if sample.labels["call_id"] == call_id
    }


async def test_a_call_with_media_shows_in_the_nodes_media_metrics(
    start: Start, world: World, clients: list[Client], peers: Callable[[], Peer]
) -> None:
    server = await start(ring_timeout_seconds=30.0)
    visitor, adviser, joined = await paired(server, world, clients)
    # The visitor is a plain aiortc peer, whose receivers send RTCP receiver reports (as
    # browsers do), so the server's senders to it learn the round-trip time.
    browser = await plain_peer(visitor)
    adviser_peer = peers()
    assert (await adviser_peer.offer_through(adviser))["ok"]
    await adviser_peer.connected()

    families = await eventually(
        server,
        lambda f: (
            value(f, "loket_media_forwarded_packets_total", kind="video") > 20
            and "visitor" in rtt_samples(f, joined["call_id"])
        ),
    )
    assert value(families, "loket_media_calls") == 1
    assert value(families, "loket_media_legs", state="connected") == 2
    assert value(families, "loket_media_forwarded_packets_total", kind="video") > 20
    assert value(families, "loket_media_forwarded_packets_total", kind="audio") > 20
    assert value(families, "loket_media_packets_lost_total", direction="inbound") >= 0
    # Each forwarder asks its sender for a keyframe when its receiver starts.
    assert value(families, "loket_media_keyframe_requests_total", kind="video") >= 1
    # From the visitor's RTCP receiver reports (on loopback it may round to 0).
    rtts = rtt_samples(families, joined["call_id"])
    assert 0 <= rtts["visitor"] < 1, rtts
    forwarded = value(families, "loket_media_forwarded_packets_total", kind="video")

    assert (await visitor.call("call:end"))["ok"]
    await browser.close()
    families = await eventually(server, lambda f: value(f, "loket_media_calls") == 0)
    assert value(families, "loket_media_calls") == 0
    assert not families["loket_media_leg_rtt_seconds"].samples, "an ended call's legs are still listed"
    # Counters never go back when the call's forwarders are gone.
    assert value(families, "loket_media_forwarded_packets_total", kind="video") >= forwarded
