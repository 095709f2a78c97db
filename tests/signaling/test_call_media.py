"""Media through signalling, driven as a browser drives it: each party's aiortc peer offers
over socket.io (`rtc:offer`, answer in the ack) and the server relays between the two legs.

Media is in-process on either backend, so these run on the embedded one only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.conftest import Backend, Client, World, base_url, connect_visitor, paired
from tests.media.conftest import eventually
from tests.signaling.conftest import FPS, Peer
from tests.signaling.test_pairing import stored_call

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_both_parties_see_and_hear_each_other_at_the_sent_rate(
    server, world: World, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    visitor, adviser, _ = await paired(server, world, clients)
    visitor_peer, adviser_peer = new_peer(), new_peer()
    assert (await visitor_peer.offer_through(visitor))["ok"]
    assert (await adviser_peer.offer_through(adviser))["ok"]
    await visitor_peer.first_video_within(5)
    await adviser_peer.first_video_within(5)
    before = {id(p): p.received["video"].frames for p in (visitor_peer, adviser_peer)}
    await asyncio.sleep(2)
    for peer in (visitor_peer, adviser_peer):
        rate = (peer.received["video"].frames - before[id(peer)]) / 2
        assert rate >= FPS * 0.8, f"video at {rate} fps"
        assert peer.received["audio"].frames > 50  # 20 ms Opus frames


async def test_an_adviser_connecting_media_three_seconds_late_sees_video_within_a_second(
    server, world: World, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    visitor, adviser, _ = await paired(server, world, clients)
    visitor_peer = new_peer()
    assert (await visitor_peer.offer_through(visitor))["ok"]
    await asyncio.sleep(3)
    adviser_peer = new_peer()
    offered = time.monotonic()
    assert (await adviser_peer.offer_through(adviser))["ok"]
    await adviser_peer.connected()
    connected = time.monotonic()
    first = await adviser_peer.first_video_within(3)
    assert first - connected < 1.0, f"first video {first - connected:.2f}s after connecting"
    assert first - offered < 3.0


async def test_a_party_closing_its_connection_ends_the_call_for_both(
    server, world: World, backend: Backend, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    visitor, adviser, joined = await paired(server, world, clients)
    visitor_peer, adviser_peer = new_peer(), new_peer()
    await visitor_peer.offer_through(visitor)
    await adviser_peer.offer_through(adviser)
    await adviser_peer.first_video_within(5)
    await visitor_peer.pc.close()
    ended = await adviser.wait_for("call:ended", timeout=10)
    assert ended["reason"] == "visitor_left"
    assert (await visitor.wait_for("call:ended"))["reference"] == joined["reference"]
    assert (await stored_call(backend, joined["call_id"])).status == "ended"


async def test_ending_the_call_closes_the_media(
    server, world: World, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    visitor, adviser, _ = await paired(server, world, clients)
    visitor_peer = new_peer()
    await visitor_peer.offer_through(visitor)
    await visitor_peer.connected()
    assert (await adviser.call("call:end"))["ok"]
    await eventually(lambda: visitor_peer.pc.connectionState != "connected", 10)
    again = await new_peer().offer_through(visitor)
    assert again["error"]["code"] == "not_active"


async def test_media_is_refused_before_the_call_is_accepted_and_bad_sdp_is_an_error(
    server, world: World, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    url = base_url(server)
    visitor = await connect_visitor(url, world, clients)
    await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    early = await new_peer().offer_through(visitor)
    assert early["error"]["code"] == "not_active"
    assert (await visitor.call("queue:leave"))["ok"]

    visitor2, _adviser, _ = await paired(server, world, clients)
    garbage = await visitor2.call("rtc:offer", {"sdp": "v=0\r\nnot sdp\r\n", "type": "offer"})
    assert garbage["ok"] is False
    assert garbage["error"]["code"] in ("rtc_negotiation_failed", "invalid_input")
    assert (await visitor2.call("rtc:candidate", {"candidate": "candidate:bogus"}))["ok"] is False
    # The call survives a bad offer: a good one still works.
    assert (await new_peer().offer_through(visitor2))["ok"]
