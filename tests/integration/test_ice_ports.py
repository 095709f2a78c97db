"""The media's UDP port range and public address (``LOKET_MEDIA_UDP_PORTS``,
``LOKET_MEDIA_PUBLIC_ADDRESS``): a media node answers with host candidates bound inside the
range only and a server-reflexive candidate for the public address, media flows through them,
and a range with no free port left refuses the offer with a clear error."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Callable, Iterator

import pytest

from media import MediaConfig
from media._aiortc_hooks import check_ice_ports_internals
from media.placement import InProcessPlacement
from tests.conftest import Client
from tests.integration.deployment import Deploy, both_receiving, start_call
from tests.media.conftest import Client as MediaClient
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

PUBLIC = "203.0.113.7"  # TEST-NET-3 (RFC 5737): never a local address


def candidates(sdp: str) -> list[dict[str, str]]:
    """The ``a=candidate`` lines of ``sdp`` (RFC 8839 section 5.1), by field."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            found.append(
                {
                    "address": fields[4],
                    "port": fields[5],
                    "type": fields[7],
                    **dict(zip(fields[8::2], fields[9::2], strict=False)),
                }
            )
    return found


@contextlib.contextmanager
def free_udp_range(size: int) -> Iterator[tuple[int, int]]:
    """``size`` consecutive UDP ports free now, below Linux's ephemeral range (so no one else
    is handed them by the kernel meanwhile)."""
    for _ in range(50):
        first = 20000 + secrets.randbelow(10000)
        probes: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("0.0.0.0", port))  # noqa: S104 - probing that the port is free everywhere
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        yield first, first + size - 1
        return
    raise AssertionError("no free UDP range found")


@contextlib.contextmanager
def occupied(first: int, last: int) -> Iterator[None]:
    """Every port of the range bound by someone else (on every address)."""
    sockets = []
    try:
        for port in range(first, last + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.bind(("0.0.0.0", port))  # noqa: S104
        yield
    finally:
        for sock in sockets:
            sock.close()


def test_the_hooks_find_the_aioice_internals_they_rely_on() -> None:
    check_ice_ports_internals()


async def test_an_in_process_call_answers_inside_the_range_with_the_public_address(
    new_client: Callable[[], MediaClient],
) -> None:
    with free_udp_range(10) as (first, last):
        placement = InProcessPlacement(
            MediaConfig(allow_private_candidates=True, udp_ports=(first, last), public_address=PUBLIC)
        )
        try:
            visitor, adviser = new_client(), new_client()
            for party, client in (("visitor", visitor), ("adviser", adviser)):
                offer = await client.offer()
                await client.accept(*await placement.answer("call-1", party, offer.sdp, offer.type))  # type: ignore[arg-type]
            await eventually(lambda: visitor.receiving() and adviser.receiving(), timeout=10)
            for client in (visitor, adviser):
                answered = candidates(client.pc.remoteDescription.sdp)
                hosts = [c for c in answered if c["type"] == "host"]
                assert hosts and all(first <= int(c["port"]) <= last for c in answered), answered
                announced = [c for c in answered if c["address"] == PUBLIC]
                assert [c["type"] for c in announced] == ["srflx"] * len(announced) and announced, answered
                assert {(c["raddr"], c["rport"]) for c in announced} <= {
                    (c["address"], c["port"]) for c in hosts
                }
        finally:
            await placement.stop()


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_a_media_node_with_a_port_range_answers_inside_it_and_announces_its_public_address(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    with free_udp_range(20) as (first, last):
        deployment = await deploy(
            1, media_env={"LOKET_MEDIA_UDP_PORTS": f"{first}-{last}", "LOKET_MEDIA_PUBLIC_ADDRESS": PUBLIC}
        )
        call = await start_call(deployment, clients, new_peer)
        await eventually(lambda: both_receiving(call), timeout=15)
    for side in call.sides:
        answered = candidates(side.peer.pc.remoteDescription.sdp)
        assert all(first <= int(c["port"]) <= last for c in answered), answered
        assert any(c["type"] == "host" for c in answered), answered
        assert any(c["address"] == PUBLIC and c["type"] == "srflx" for c in answered), answered


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_a_media_node_whose_range_is_full_refuses_the_offer_clearly(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    with free_udp_range(3) as (first, last):
        deployment = await deploy(1, media_env={"LOKET_MEDIA_UDP_PORTS": f"{first}-{last}"})
        call = await start_call(deployment, clients, new_peer, offer=False)
        with occupied(first, last):
            ack = await call.visitor.peer.offer_through(call.visitor.client)
    assert ack["ok"] is False, ack
    error = ack["error"]
    assert isinstance(error, dict)
    assert error["code"] == "media_unavailable", error
    assert "no free UDP port" in error["message"], error
    log = (deployment.data_dir / "media-a.log").read_text()
    assert f"every UDP port of {first}-{last} is taken" in log and "LOKET_MEDIA_UDP_PORTS" in log
