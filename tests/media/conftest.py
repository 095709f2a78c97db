"""Hand-fed fake sources and a fake clock for the rules; real aiortc peers on loopback
(the synthetic peer, ``media.synthetic_peer``, offering to a server ``Leg``) for the rest."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiortc import RTCPeerConnection

from media import EncodedFrame, Leg, MediaCall, MediaConfig, Party
from media.synthetic_peer import SyntheticPeer
from tests.media.nodes import (  # noqa: F401 (fixtures of the media-node tests)
    media_cluster,
    media_redis,
    media_registry,
    start_node,
    start_placement,
)


class FakeSource:
    """A ``FrameSource`` the test feeds by hand; counts keyframe requests."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keyframe_requests = 0
        self._callbacks: list[Callable[[EncodedFrame], None]] = []

    def subscribe(self, callback: Callable[[EncodedFrame], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1

    def emit(self, frame: EncodedFrame) -> None:
        for callback in list(self._callbacks):
            callback(frame)


class FakeClock:
    """A monotonic clock that moves only when the test sets ``now``."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Client(SyntheticPeer):
    """A browser stand-in (the synthetic peer: the encoded loop out, RTP counted in) that
    offers straight to a leg or a call."""

    async def offer_to(self, leg: Leg) -> None:
        await self.negotiate(leg.answer)

    async def offer_through(self, call: MediaCall, party: Party) -> None:
        """Offer as ``party`` of ``call``, the way signalling does (so a new transport
        replaces the party's leg)."""
        await self.negotiate(functools.partial(call.answer, party))


def cut_network(pc: RTCPeerConnection) -> None:
    """Drop every datagram to and from ``pc``'s ICE sockets from now on: its network is gone.

    Nothing is closed, so no DTLS close_notify and no ICE event tells either end; each
    finds out as a browser does, from silence (RFC 7675 consent checks going unanswered).
    Reaches into aioice (``Connection._protocols``, each a ``StunProtocol`` with its
    datagram transport), as only a test may.
    """
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for protocol in connection._protocols:
            protocol.datagram_received = lambda data, addr: None  # type: ignore[method-assign]
            protocol.transport.sendto = lambda data, addr=None: None  # type: ignore[method-assign]


def transport_ports(pc: RTCPeerConnection) -> set[int]:
    """The UDP ports of ``pc``'s local ICE candidates (RFC 8839 section 5.1)."""
    sdp = pc.localDescription.sdp
    return {int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")}


@pytest.fixture
def media_config() -> MediaConfig:
    # Loopback and private host candidates are all these tests have.
    return MediaConfig(allow_private_candidates=True)


@pytest.fixture
async def new_client() -> AsyncIterator[Callable[[], Client]]:
    clients: list[Client] = []

    def make() -> Client:
        client = Client.create()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def new_call(media_config: MediaConfig) -> AsyncIterator[Callable[..., MediaCall]]:
    calls: list[MediaCall] = []

    def make(**kwargs: object) -> MediaCall:
        call = MediaCall(config=media_config, **kwargs)  # type: ignore[arg-type]
        calls.append(call)
        return call

    yield make
    for call in calls:
        await call.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (the things polled have no event to wait on)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return eventually
