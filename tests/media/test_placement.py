"""One behaviour suite for every media placement: in process, and on a media node.

``remote`` runs a real ``MediaNode`` (its internal HTTP server on 127.0.0.1, registered in the
test's own Redis prefix) and drives it through ``RemotePlacement`` over the signed channel;
``local_node`` is a ``loket serve`` that relays media itself and shares Redis: the node is its
own, registered like any other, and ``RemotePlacement`` serves the calls placed on it without a
request to itself. The clients are real aiortc peers on loopback. Whatever signalling can
observe of a placement must be the same for all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from media import LegClosedError, MediaConfig, NegotiationError, Party, RecordingError
from media.errors import SpoolPathError
from media.node import ClusterConfig, MediaNode, NodeConfig
from media.placement import InProcessPlacement, MediaPlacement
from media.remote import RemotePlacement
from tests.media.conftest import Client, eventually

SECRET = "placement-suite-secret-0123456789abcdef"
PUBLIC_CANDIDATE = "candidate:1 1 udp 2122260223 8.8.8.8 40000 typ host"
LOOPBACK_CANDIDATE = "candidate:2 1 udp 2122260223 127.0.0.1 40001 typ host"


@dataclass
class Media:
    """A placement under test, where its recordings land, and the calls' ended events."""

    placement: MediaPlacement
    spool_dir: Path
    ended: list[tuple[str, str]] = field(default_factory=list)


OpenMedia = Callable[[MediaConfig], Awaitable[Media]]


@dataclass(frozen=True)
class Kind:
    """Which placement: ``cluster`` is ``None`` for media in process."""

    cluster: ClusterConfig | None
    local: bool = False


@pytest.fixture(params=["in_process", "remote", "local_node"])
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "in_process":
        return Kind(cluster=None)
    cluster = ClusterConfig(
        redis_url=request.getfixturevalue("redis_url"),
        redis_prefix=request.getfixturevalue("redis_prefix"),
        secret=SECRET,
    )
    return Kind(cluster=cluster, local=request.param == "local_node")


@pytest.fixture
async def open_media(kind: Kind, tmp_path: Path) -> AsyncIterator[OpenMedia]:
    stops: list[Callable[[], Awaitable[None]]] = []
    tasks: list[asyncio.Task[None]] = []

    async def open_(config: MediaConfig) -> Media:
        spool = tmp_path / f"spool-{len(stops)}"
        placement: MediaPlacement
        if kind.cluster is None:
            placement = InProcessPlacement(config, spool_dir=spool)
            await placement.start()
            stops.append(placement.stop)
        else:
            node = MediaNode(
                config=NodeConfig(node_id=f"node-{len(stops)}", spool_dir=spool),
                cluster=kind.cluster,
                media=config,
            )
            await node.start()
            stops.append(node.stop)
            placement = RemotePlacement(kind.cluster, local=node if kind.local else None)
            await placement.start()
            stops.append(placement.stop)
        media = Media(placement=placement, spool_dir=spool)
        tasks.append(asyncio.create_task(_collect_ended(media)))
        return media

    yield open_
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for stop in reversed(stops):
        await stop()


async def _collect_ended(media: Media) -> None:
    events = media.placement.ended()
    try:
        async for event in events:
            media.ended.append(event)
    finally:
        await events.aclose()


@pytest.fixture
async def media(open_media: OpenMedia, media_config: MediaConfig) -> Media:
    return await open_media(media_config)


async def offer(media: Media, call_id: str, party: Party, client: Client) -> None:
    """The party's browser offers through signalling and applies the answer."""
    await client.pc.setLocalDescription(await client.pc.createOffer())
    local = client.pc.localDescription
    sdp, sdp_type = await media.placement.answer(call_id, party, local.sdp, local.type)
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))


def receiving(*clients: Client) -> bool:
    return all(
        kind in client.received and client.received[kind].frames > 0
        for client in clients
        for kind in ("audio", "video")
    )


async def connected_call(media: Media, new_client: Callable[[], Client]) -> tuple[str, Client, Client]:
    call_id = str(uuid.uuid4())
    visitor, adviser = new_client(), new_client()
    await offer(media, call_id, "visitor", visitor)
    await offer(media, call_id, "adviser", adviser)
    await eventually(lambda: receiving(visitor, adviser), timeout=15)
    return call_id, visitor, adviser


async def test_each_party_receives_the_others_video_and_audio(
    media: Media, new_client: Callable[[], Client]
) -> None:
    _, visitor, adviser = await connected_call(media, new_client)
    before = {id(c): c.received["video"].frames for c in (visitor, adviser)}
    await asyncio.sleep(1.0)
    for client in (visitor, adviser):
        assert client.received["video"].frames - before[id(client)] >= 10


async def test_a_party_offering_late_gets_the_other_partys_media(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id = str(uuid.uuid4())
    visitor = new_client()
    await offer(media, call_id, "visitor", visitor)
    await asyncio.sleep(1.0)
    adviser = new_client()
    await offer(media, call_id, "adviser", adviser)
    await eventually(lambda: receiving(visitor, adviser), timeout=15)


async def test_candidates_are_taken_and_end_of_candidates_is_fine(media: Media) -> None:
    call_id = str(uuid.uuid4())
    # Before the offer: kept until it comes (browsers trickle as soon as they have offered).
    assert await media.placement.add_candidate(call_id, "visitor", PUBLIC_CANDIDATE, "0", 0) is True
    assert await media.placement.add_candidate(call_id, "visitor", None, None, None) is True
    with pytest.raises(NegotiationError):
        await media.placement.add_candidate(call_id, "visitor", "candidate:nonsense", "0", 0)


async def test_private_candidates_are_ignored_when_not_allowed(open_media: OpenMedia) -> None:
    media = await open_media(MediaConfig(allow_private_candidates=False))
    call_id = str(uuid.uuid4())
    assert await media.placement.add_candidate(call_id, "adviser", LOOPBACK_CANDIDATE, "0", 0) is False
    assert await media.placement.add_candidate(call_id, "adviser", PUBLIC_CANDIDATE, "0", 0) is True


async def test_an_offer_that_is_not_an_offer_or_not_sdp_is_refused(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id = str(uuid.uuid4())
    with pytest.raises(NegotiationError):
        await media.placement.answer(call_id, "visitor", "v=0\r\nnot sdp\r\n", "offer")
    client = new_client()
    await client.pc.setLocalDescription(await client.pc.createOffer())
    with pytest.raises(NegotiationError):
        await media.placement.answer(call_id, "visitor", client.pc.localDescription.sdp, "answer")
    # The call is still usable after a refused offer.
    await offer(media, call_id, "visitor", client)


async def test_a_closed_call_takes_no_more_offers_and_closing_is_idempotent(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id, _, _ = await connected_call(media, new_client)
    await media.placement.close_call(call_id)
    await media.placement.close_call(call_id)
    await media.placement.close_call(str(uuid.uuid4()))  # never seen: fine
    late = new_client()
    await late.pc.setLocalDescription(await late.pc.createOffer())
    with pytest.raises(LegClosedError):
        await media.placement.answer(call_id, "visitor", late.pc.localDescription.sdp, "offer")


async def test_closing_a_call_stops_its_media(media: Media, new_client: Callable[[], Client]) -> None:
    call_id, visitor, adviser = await connected_call(media, new_client)
    await media.placement.close_call(call_id)
    await asyncio.sleep(0.5)
    frames = [c.received["video"].frames for c in (visitor, adviser)]
    await asyncio.sleep(1.0)
    assert [c.received["video"].frames for c in (visitor, adviser)] == frames


async def test_a_party_leaving_ends_the_call_once_and_a_closed_call_reports_nothing(
    media: Media, new_client: Callable[[], Client]
) -> None:
    closed, _, _ = await connected_call(media, new_client)
    await media.placement.close_call(closed)
    left, visitor, _ = await connected_call(media, new_client)
    await visitor.pc.close()
    await eventually(lambda: bool(media.ended), timeout=15)
    await asyncio.sleep(1.0)
    assert media.ended == [(left, "visitor_left")]


async def test_each_party_is_recorded_under_its_key_in_the_spool(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id, _, _ = await connected_call(media, new_client)
    files: dict[Party, Path] = {party: Path(call_id) / f"{party}.webm" for party in ("visitor", "adviser")}
    await media.placement.start_recording(call_id, files)
    with pytest.raises(RecordingError):
        await media.placement.start_recording(call_id, files)
    await asyncio.sleep(2.0)
    results = await media.placement.stop_recording(call_id)
    assert set(results) == {"visitor", "adviser"}
    for party, result in results.items():
        assert result.path == files[party]
        written = media.spool_dir / files[party]
        assert written.stat().st_size == result.bytes > 0
        assert result.video_frames > 10 and result.audio_frames > 20
    # Nothing is being recorded any more.
    assert await media.placement.stop_recording(call_id) == {}


async def test_a_spool_key_that_leaves_the_spool_is_refused(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id, _, _ = await connected_call(media, new_client)
    with pytest.raises(SpoolPathError):
        await media.placement.start_recording(call_id, {"visitor": Path("../outside.webm")})
    assert not (media.spool_dir.parent / "outside.webm").exists()
    # Refused before anything started: a good key still records.
    await media.placement.start_recording(call_id, {"visitor": Path(call_id) / "visitor.webm"})
    await media.placement.stop_recording(call_id)


async def test_closing_a_recorded_call_finishes_its_files(
    media: Media, new_client: Callable[[], Client]
) -> None:
    call_id, _, _ = await connected_call(media, new_client)
    key = Path(call_id) / "adviser.webm"
    await media.placement.start_recording(call_id, {"adviser": key})
    await asyncio.sleep(1.5)
    await media.placement.close_call(call_id)
    assert (media.spool_dir / key).stat().st_size > 0
    assert await media.placement.stop_recording(call_id) == {}
