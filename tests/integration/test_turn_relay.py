"""A call through a real coturn: the visitor's peer may only use TURN-relayed candidates.

coturn runs on loopback with ``use-auth-secret``; Loket is configured with its URL and the
shared secret, and the visitor's aiortc peer is built from exactly the ``ice_servers`` that
``POST /api/v1/widget/sessions`` handed out. ``iceTransportPolicy="relay"`` (W3C webrtc-pc
section 4.2.1; aioice gathers no host or server-reflexive candidates with it) stands in for
a visitor behind a firewall that only lets TURN through. The adviser uses host candidates.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from aioice.ice import CandidatePair
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

from loket.app import create_app
from media.turn import turn_credentials
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    service_missing,
    visitor_session,
)
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer
from tests.signaling.test_pairing import stored_call

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]

REALM = "loket.test"
RELAY_PORTS = 16
_SESSION_LINE = re.compile(r"session (?P<id>\d+): (?P<text>.*)$")


@dataclass
class Coturn:
    """A running ``turnserver`` and where its log goes."""

    port: int
    secret: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sessions_of(self, username: str) -> dict[str, list[str]]:
        """coturn's log lines, per TURN session, of the sessions that ``username`` opened."""
        sessions: dict[str, list[str]] = {}
        for line in self.log().splitlines():
            match = _SESSION_LINE.search(line)
            if match:
                sessions.setdefault(match["id"], []).append(match["text"])
        return {
            session: lines
            for session, lines in sessions.items()
            if any(f"username=<{username}>" in line for line in lines)
        }


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tcp_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free ports, below the kernel's ephemeral range (where
    aiortc's own sockets and other tests' free ports come from), so they stay free."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = 10000 + secrets.randbelow(low - size - 10000)
        ports = range(base, base + size)
        if _tcp_free(base) and all(_udp_free(port) for port in ports):
            return base
    raise RuntimeError(f"no {size} consecutive free ports below {low}")


def _stun_binding_answered(port: int) -> bool:
    """Whether a STUN Binding request (RFC 8489 section 5) to 127.0.0.1:port gets a response."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            response = sock.recv(2048)
        except OSError:  # refused (not listening yet) or timed out
            return False
    return response[8:20] == transaction


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """coturn on loopback with a shared secret, on free ports; stopped afterwards."""
    binary = shutil.which("turnserver")
    if binary is None:
        service_missing("coturn is not installed (apt-get install -y coturn)")
        return
    secret = secrets.token_urlsafe(24)
    # Listening port, its +1 (coturn's alternative port), then the relay range.
    base = _free_port_block(2 + RELAY_PORTS)
    log_path = tmp_path / "turnserver.log"
    command = [
        binary,
        "-n",
        "--listening-ip=127.0.0.1",
        f"--listening-port={base}",
        f"--min-port={base + 2}",
        f"--max-port={base + 1 + RELAY_PORTS}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        # Tests only: the peers (Loket's media legs) are on this machine.
        "--allow-loopback-peers",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--log-file=stdout",
        "--simple-log",
        # Verbose: only then does coturn log each session's allocation and permissions.
        "-v",
        # Its own pid file and user database, not the system-wide ones.
        f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--userdb={tmp_path / 'turndb'}",
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _stun_binding_answered(base):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"coturn did not start (exit {process.poll()}):\n{log_path.read_text()[-3000:]}")
        yield Coturn(port=base, secret=secret, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
async def turn_server(backend: Backend, coturn: Coturn) -> AsyncIterator[TestServer]:
    """The whole app, handing out coturn (with per-visitor credentials) as its only ICE server."""
    settings = backend.settings(
        ring_timeout_seconds=5.0,
        resume_window_seconds=2.0,
        ice_servers=[{"urls": [f"turn:127.0.0.1:{coturn.port}?transport=udp"]}],
        turn_secret=coturn.secret,
        # The relayed candidates are on loopback, so the legs must accept them.
        allow_private_candidates=True,
    )
    app = create_app(settings, run_worker=False)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def peers() -> AsyncIterator[Callable[[RTCConfiguration], Peer]]:
    """Browser-like peers with the given configuration; closed afterwards."""
    made: list[Peer] = []

    def make(configuration: RTCConfiguration) -> Peer:
        peer = Peer.create(configuration=configuration)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


def selected_pair(pc: RTCPeerConnection) -> CandidatePair:
    """The nominated candidate pair (media is bundled: one transport, component 1 with rtcp-mux).

    aiortc's getStats() has no candidate-pair entries, so this reads aioice's
    ``Connection._nominated``."""
    transport = pc.getTransceivers()[0].sender.transport.transport
    pair: CandidatePair = transport._connection._nominated[1]
    return pair


def candidate_types(sdp: str) -> set[str]:
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def test_a_visitor_allowed_only_turn_relay_completes_a_call_with_the_handed_out_credentials(
    turn_server: TestServer,
    coturn: Coturn,
    world: World,
    backend: Backend,
    clients: list[Client],
    peers: Callable[[RTCConfiguration], Peer],
) -> None:
    url = base_url(turn_server)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    session = await visitor_session(url, world)
    [ice_server] = session["ice_servers"]
    assert ice_server["urls"] == [f"turn:127.0.0.1:{coturn.port}?transport=udp"]
    visitor = Client("/visitor")
    clients.append(visitor)
    await visitor.connect(url, session["visitor_token"])
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")

    visitor_peer = peers(
        RTCConfiguration(
            iceServers=[RTCIceServer(**server) for server in session["ice_servers"]],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )
    adviser_peer = peers(RTCConfiguration(iceServers=[]))
    assert (await visitor_peer.offer_through(visitor))["ok"]
    # aiortc gathers before it offers: the offer holds every candidate the visitor has.
    assert candidate_types(visitor_peer.pc.localDescription.sdp) == {"relay"}
    assert (await adviser_peer.offer_through(adviser))["ok"]
    await visitor_peer.connected(10)
    await adviser_peer.connected(10)
    relayed = selected_pair(visitor_peer.pc)
    assert relayed.local_candidate.type == "relay"
    assert relayed.local_candidate.host == "127.0.0.1"  # coturn's relay address
    assert selected_pair(adviser_peer.pc).local_candidate.type == "host"

    await visitor_peer.first_video_within(5)
    await adviser_peer.first_video_within(5)
    before = {id(peer): peer.received["video"].frames for peer in (visitor_peer, adviser_peer)}
    await asyncio.sleep(2)
    for peer in (visitor_peer, adviser_peer):
        frames = peer.received["video"].frames - before[id(peer)]
        assert frames >= 10, f"{frames} video frames in 2 s"
        assert peer.received["audio"].frames > 0

    # coturn accepted the minted username (it checks the HMAC with the shared secret) and
    # relays this call: an allocation with a permission (or channel) for Loket's leg.
    leg = re.compile(rf"peer {re.escape(relayed.remote_candidate.host)}[: ]")
    sessions = coturn.sessions_of(ice_server["username"])
    [relay] = [key for key, lines in sessions.items() if any(leg.search(line) for line in lines)]
    lines = sessions[relay]
    assert any("ALLOCATE processed, success" in line for line in lines), lines
    assert any(
        "CHANNEL_BIND processed, success" in line or "CREATE_PERMISSION processed, success" in line
        for line in lines
    ), lines

    assert (await visitor.call("call:end"))["ok"]
    ended = await adviser.wait_for("call:ended", timeout=5)
    assert ended["reference"] == joined["reference"]
    assert (await visitor.wait_for("call:ended", timeout=5))["reference"] == joined["reference"]
    assert (await stored_call(backend, joined["call_id"])).status == "ended"
    await eventually(lambda: visitor_peer.pc.connectionState != "connected", 10)
    await eventually(lambda: adviser_peer.pc.connectionState != "connected", 10)
    # The visitor's browser closing its connection gives the relay back at once (a Refresh
    # with lifetime 0, RFC 8656 section 7).
    await visitor_peer.pc.close()
    await eventually(
        lambda: any(
            "refreshed" in line and "lifetime=0" in line
            for line in coturn.sessions_of(ice_server["username"])[relay]
        ),
        5,
    )


@pytest.mark.usefixtures("backend")  # the module's parametrisation; this test needs no Loket
@pytest.mark.parametrize("spoiled", ["wrong secret", "expired"])
async def test_coturn_refuses_credentials_not_minted_with_its_secret_or_expired(
    coturn: Coturn, spoiled: str
) -> None:
    if spoiled == "wrong secret":
        username, password = turn_credentials("not-" + coturn.secret, ttl_seconds=600)
    else:
        username, password = turn_credentials(coturn.secret, ttl_seconds=600, now=time.time() - 3600)
    server = RTCIceServer(
        urls=[f"turn:127.0.0.1:{coturn.port}?transport=udp"], username=username, credential=password
    )
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[server], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    )
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        assert candidate_types(pc.localDescription.sdp) == set()
    finally:
        await pc.close()
    # The request reached coturn with that username and was refused.
    await eventually(
        lambda: f"user <{username}>: incoming packet message processed, error 401" in coturn.log()
    )
    assert "ALLOCATE processed, success" not in coturn.log()
