"""``Leg`` negotiation edges, with real aiortc clients."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from media import Leg, LegClosedError, MediaConfig, NegotiationError


@pytest.fixture
async def leg(media_config: MediaConfig) -> Any:
    closed: list[Leg] = []
    leg = Leg(config=media_config, label="test", on_closed=closed.append)
    leg.closed_calls = closed  # type: ignore[attr-defined]
    yield leg
    await leg.close()


def media_sections(sdp: str) -> dict[str, list[str]]:
    """The rtpmap codec names per m-line kind, in the order of the m-line."""
    sections: dict[str, list[str]] = {}
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
            sections[kind] = []
        elif line.startswith("a=rtpmap:"):
            sections[kind].append(line.split()[1].split("/")[0])
    return sections


async def test_answer_prefers_vp8_and_opus(leg: Leg, new_client: Any) -> None:
    client = new_client()
    await client.pc.setLocalDescription(await client.pc.createOffer())
    sdp, sdp_type = await leg.answer(client.pc.localDescription.sdp, "offer")

    assert sdp_type == "answer"
    codecs = media_sections(sdp)
    assert codecs["video"][0] == "VP8"
    assert set(codecs["video"]) <= {"VP8", "H264", "rtx"}
    assert codecs["audio"] == ["opus"]
    assert leg.outbound["video"].codec is not None
    assert leg.outbound["video"].codec.mime_type == "video/VP8"
    assert leg.outbound["audio"].codec is not None
    assert leg.outbound["audio"].codec.mime_type == "audio/opus"


async def test_a_leg_only_answers_offers(leg: Leg) -> None:
    with pytest.raises(NegotiationError):
        await leg.answer("v=0\r\n", "answer")


@pytest.mark.parametrize(
    "offer",
    [
        "v=0\r\nthis is not sdp\r\n",
        # A video section without ICE credentials or a DTLS fingerprint.
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n",
    ],
)
async def test_an_unusable_offer_is_a_negotiation_error(leg: Leg, offer: str) -> None:
    with pytest.raises(NegotiationError):
        await leg.answer(offer, "offer")


async def test_close_is_idempotent_and_notifies_once(leg: Leg) -> None:
    await asyncio.gather(leg.close(), leg.close())
    await leg.close()
    assert leg.closed_calls == [leg]  # type: ignore[attr-defined]
    assert leg.connection_state == "closed"
    with pytest.raises(LegClosedError):
        await leg.answer("v=0\r\n", "offer")
    with pytest.raises(LegClosedError):
        await leg.add_ice_candidate(None)


async def test_private_candidates_are_ignored_in_production(new_client: Any) -> None:
    leg = Leg(config=MediaConfig())
    try:
        client = new_client()
        await client.pc.setLocalDescription(await client.pc.createOffer())
        await leg.answer(client.pc.localDescription.sdp, "offer")
        private = "candidate:1 1 udp 2130706431 10.1.2.3 50000 typ host"
        public = "candidate:2 1 udp 2130706431 198.51.100.7 50000 typ host"
        assert await leg.add_ice_candidate(private, sdp_mid="0") is False
        assert await leg.add_ice_candidate("candidate:3 1 udp 1 host.local 9 typ host", "0") is False
        # 198.51.100.0/24 is documentation space, not global: also refused.
        assert await leg.add_ice_candidate(public, sdp_mid="0") is False
        routable = "candidate:4 1 udp 2130706431 8.8.8.8 50000 typ host"
        assert await leg.add_ice_candidate(routable, sdp_mid="0", sdp_mline_index=0) is True
        with pytest.raises(NegotiationError):
            await leg.add_ice_candidate("candidate:nonsense", sdp_mid="0")
    finally:
        await leg.close()


async def test_trickled_candidates_are_accepted_on_loopback(leg: Leg, new_client: Any) -> None:
    client = new_client()
    await client.pc.setLocalDescription(await client.pc.createOffer())
    await leg.answer(client.pc.localDescription.sdp, "offer")
    assert await leg.add_ice_candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "0")
    assert await leg.add_ice_candidate("", None)  # end of candidates


async def test_candidates_trickled_before_the_offer_wait_for_it(
    leg: Leg, new_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = new_client()
    await client.pc.setLocalDescription(await client.pc.createOffer())
    # The browser trickles its candidates while its offer is still on the way.
    for line in client.pc.localDescription.sdp.splitlines():
        if line.startswith("a=candidate:"):
            assert await leg.add_ice_candidate(line[2:], sdp_mid="0") is True
    assert await leg.add_ice_candidate(None)

    sdp, sdp_type = await leg.answer(client.pc.localDescription.sdp, "offer")
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
    await client.wait_connected()
    assert "without remote description" not in caplog.text


def _mutate(sdp: str, old: str, new: str) -> str:
    assert old in sdp, old
    return sdp.replace(old, new, 1)


# Offers a real client made, broken the ways bench.fuzz found aiortc's parser failing with
# errors other than ValueError (KeyError, AttributeError, IndexError, StopIteration).
BROKEN_OFFERS = {
    "unknown a=setup role": lambda sdp: re.sub(r"a=setup:\w+", "a=setup:sideways", sdp, count=1),
    "an address that is not one": lambda sdp: _mutate(sdp, "c=IN IP4 ", "c=IN IP4 x"),
    "no address type": lambda sdp: re.sub(r"c=IN IP4 \S+", "c=IN", sdp, count=1),
    "rtpmap without a clock rate": lambda sdp: re.sub(
        r"a=rtpmap:(\d+) (\w+)/\d+", r"a=rtpmap:\1 \2", sdp, count=1
    ),
    "fingerprint without a value": lambda sdp: re.sub(r"a=fingerprint:\S+ \S+", "a=fingerprint:sha-256", sdp),
    "empty payload list": lambda sdp: re.sub(r"(m=video \d+ \S+)( \d+)+", r"\1", sdp, count=1),
    "candidate cut short": lambda sdp: sdp.replace("a=mid:", "a=candidate:1 1 udp\r\na=mid:", 1),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_OFFERS))
async def test_a_broken_real_offer_is_a_negotiation_error_and_the_leg_still_answers(
    media_config: MediaConfig, new_client: Any, breakage: str
) -> None:
    client = new_client()
    await client.pc.setLocalDescription(await client.pc.createOffer())
    good = client.pc.localDescription.sdp
    broken = Leg(config=media_config, label="broken")
    try:
        with pytest.raises(NegotiationError):
            await broken.answer(BROKEN_OFFERS[breakage](good), "offer")
    finally:
        await broken.close()
    fresh = Leg(config=media_config, label="fresh")
    try:
        _, sdp_type = await fresh.answer(good, "offer")
        assert sdp_type == "answer"
    finally:
        await fresh.close()
