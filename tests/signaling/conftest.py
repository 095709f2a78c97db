"""Shared by the tests that carry media: browser-like aiortc peers (the synthetic peer,
``media.synthetic_peer``) that offer over socket.io. (A paired call is ``tests.conftest.paired``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from media.synthetic_peer import SyntheticPeer
from tests.conftest import Client

FPS = 20


class Peer(SyntheticPeer):
    """A browser's RTCPeerConnection: sends the encoded loop, counts what it receives, offers
    with ``rtc:offer``."""

    async def offer_through(self, client: Client) -> dict[str, object]:
        offer = await self.offer()
        ack = await client.call("rtc:offer", {"sdp": offer.sdp, "type": offer.type})
        if ack["ok"]:
            await self.accept(ack["sdp"], ack["type"])
        return ack

    async def connected(self, seconds: float = 5) -> None:
        await self.wait_connected(seconds)


@pytest.fixture
async def new_peer() -> AsyncIterator[Callable[[], Peer]]:
    peers: list[Peer] = []

    def make() -> Peer:
        peer = Peer.create()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        await peer.close()
