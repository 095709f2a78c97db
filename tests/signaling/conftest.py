"""Shared by the signalling tests that carry media: browser-like aiortc peers and a paired call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media.synthetic import FrameCounter, SyntheticAudioTrack, SyntheticVideoTrack
from tests.conftest import Client, World, base_url, connect_adviser, connect_visitor
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


async def paired(server: object, world: World, clients: list[Client]) -> tuple[Client, Client, dict]:
    url = base_url(server)  # type: ignore[arg-type]
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    return visitor, adviser, joined
