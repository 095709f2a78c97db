"""Shared by the tests that carry media: browser-like aiortc peers. (A paired call is
``tests.conftest.paired``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media.synthetic import FrameCounter, SyntheticAudioTrack, SyntheticVideoTrack
from tests.conftest import Client
from tests.media.conftest import eventually

FPS = 20


@dataclass
class Peer:
    """A browser's RTCPeerConnection: sends synthetic media, counts what it receives."""

    pc: RTCPeerConnection
    received: dict[str, FrameCounter] = field(default_factory=dict)

    async def offer_through(self, client: Client) -> dict[str, object]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        ack = await client.call("rtc:offer", {"sdp": self.pc.localDescription.sdp, "type": "offer"})
        if ack["ok"]:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=ack["sdp"], type=ack["type"]))
        return ack

    async def first_video_within(self, seconds: float) -> float:
        await eventually(lambda: "video" in self.received, seconds)
        return await self.received["video"].wait_first_frame(seconds)

    async def connected(self, seconds: float = 5) -> None:
        await eventually(lambda: self.pc.connectionState == "connected", seconds)


@pytest.fixture
async def new_peer() -> AsyncIterator[Callable[[], Peer]]:
    peers: list[Peer] = []

    def make() -> Peer:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(SyntheticAudioTrack())
        pc.addTrack(SyntheticVideoTrack(fps=FPS))
        peer = Peer(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            counter = FrameCounter(track)
            counter.start()
            peer.received[track.kind] = counter

        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        for counter in peer.received.values():
            await counter.stop()
        await peer.pc.close()
