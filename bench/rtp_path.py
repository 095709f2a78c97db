"""CPU per RTP packet on the forwarding path and in the synthetic client, old code against new.

    python -m bench.rtp_path [--packets N] [--rounds R] [--baseline-rev REV]

The same harness drives two trees of ``media/``: this checkout's, and the one at
``--baseline-rev`` (default ``87f609c``, before this work; taken with ``git archive`` into a
temporary directory). Each tree runs in its own process, the two alternating ``--rounds``
times, on the same packets; the median of the rounds is printed side by side with the ratio.

*relay*: a real :class:`~media.rtp_session.RtpSession` per leg and a
:class:`~media.forwarder.Forwarder` between them, over :class:`~media._aiortc_hooks.SrtpEndpoint`
on stand-ins for aiortc's DTLS transports (real pylibsrtp sessions, a real UDP socket as the
ICE pair's, aioice's ``StunProtocol``). Each SRTP datagram (the synthetic peer's VP8 640x480
and Opus, captured and encrypted beforehand) enters where the socket hands it to asyncio's
protocol, ``datagram_received``, and leaves rewritten and re-encrypted through ``sendto`` to a
loopback socket: decryption, parsing, sequence counting, the forwarder, the header rewrite,
the send history, encryption and the system call, per packet.

*client send*: the synthetic peer's ``LoopedRtpSender`` building and sending its packets
(header, picture id, trailer, SRTP, ``sendto``), per packet. *client receive*: a synthetic
peer's counting of received packets from the socket's ``datagram_received`` (decryption and
``RtpCounter``), per packet.

CPU time (``time.process_time``) per packet is what counts; wall time is printed beside it
because this machine is shared (the load average is printed too). The SHA-256 of every
datagram each variant put on the wire is compared: the new code must send the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, cast

BASELINE_REV = "87f609c"
_KEY = bytes(range(30))  # SRTP master key and salt (AES_CM_128_HMAC_SHA1_80)
_VIDEO_PT, _RTX_PT, _AUDIO_PT = 96, 97, 111
_BATCH = 200  # packets timed at once; the loopback receiver is drained between batches


# --- the child: one tree of media/, measured --------------------------------------------------


class _Sink:
    """A loopback UDP socket the packets are sent to, drained and hashed between batches."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.digest = hashlib.sha256()
        self.datagrams = 0
        self.transports: list[Any] = []  # the endpoints' sockets, closed with the sink

    def close(self) -> None:
        for transport in self.transports:
            transport.close()
        self.sock.close()

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.digest.update(len(data).to_bytes(2, "big") + data)
            self.datagrams += 1


class _StubTransport:
    """What ``SrtpEndpoint`` reads of an ``RTCDtlsTransport`` (connected, keys, ICE pair)."""

    def __init__(self, udp: Any, protocol: Any, remote: tuple[str, int]) -> None:
        import pylibsrtp
        from aiortc.rtcdtlstransport import State

        self._state = State.CONNECTED
        self.state = "connected"
        policy = pylibsrtp.Policy
        self._rx_srtp = pylibsrtp.Session(policy(key=_KEY, ssrc_type=policy.SSRC_ANY_INBOUND))
        self._tx_srtp = pylibsrtp.Session(policy(key=_KEY, ssrc_type=policy.SSRC_ANY_OUTBOUND))
        pair = type("Pair", (), {"protocol": protocol, "remote_addr": remote})()
        connection = type("Connection", (), {})()
        connection._nominated = {1: pair}
        connection._protocols = [protocol]
        connection.data_received = lambda data, component: None
        self.transport = type("IceTransport", (), {"_connection": connection})()
        protocol.transport = udp

    def on(self, event: str, callback: Callable[[], None]) -> None:
        pass

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        pass

    async def _handle_rtcp_data(self, data: bytes) -> None:
        pass


async def _endpoint(sink: _Sink) -> tuple[Any, Any]:
    """An ``SrtpEndpoint`` on a stub transport whose ICE pair sends to ``sink``."""
    from aioice.ice import StunProtocol

    from media import _aiortc_hooks as hooks

    loop = asyncio.get_running_loop()
    protocol = StunProtocol(cast(Any, None))  # only its datagram_received is used
    udp, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
    sink.transports.append(udp)
    transport = _StubTransport(udp, protocol, sink.address)
    return hooks.SrtpEndpoint(transport), protocol  # type: ignore[arg-type]


def _captured(frames: int) -> list[bytes]:
    """The synthetic peer's plaintext RTP for ``frames`` video frames and the audio of that
    time, interleaved as sent."""
    from media.synthetic import LoopedAudioTrack, LoopedVideoTrack, encoded_loop
    from media.synthetic_rtp import LoopedRtpSender

    loop = encoded_loop()
    packets: list[bytes] = []

    def send(data: bytes, *, rtcp: bool = False) -> bool:
        if not rtcp:
            packets.append(data)
        return True

    rng = random.Random(3)
    video = LoopedRtpSender(
        LoopedVideoTrack(loop), ssrc=0x1111, payload_type=_VIDEO_PT, send=send, rng=rng, rtx_ssrc=0x1112
    )
    audio = LoopedRtpSender(LoopedAudioTrack(loop), ssrc=0x2222, payload_type=_AUDIO_PT, send=send, rng=rng)
    for number in range(frames):
        video._send_frame()
        if number % 2 == 0:
            audio._send_frame()
        audio._send_frame()
    return packets


def _encrypted(packets: list[bytes]) -> list[bytes]:
    import pylibsrtp

    policy = pylibsrtp.Policy
    session = pylibsrtp.Session(policy(key=_KEY, ssrc_type=policy.SSRC_ANY_OUTBOUND))
    return [session.protect(p) for p in packets]


def _parameters(kind: str, local_ssrc: int, remote_ssrc: int) -> Any:
    from media.rtp_params import Codec, StreamParameters

    if kind == "video":
        feedback = frozenset({"nack", "nack pli", "ccm fir", "goog-remb"})
        codecs: tuple[Codec, ...] = (
            Codec(_VIDEO_PT, "video/VP8", 90000, feedback=feedback),
            Codec(_RTX_PT, "video/rtx", 90000, rtx_for=_VIDEO_PT),
        )
    else:
        codecs = (Codec(_AUDIO_PT, "audio/opus", 48000),)
    return StreamParameters(
        kind=kind,
        codecs=codecs,
        mid="0" if kind == "audio" else "1",
        local_ssrc=local_ssrc,
        local_rtx_ssrc=local_ssrc + 1,
        remote_ssrcs=frozenset({remote_ssrc, remote_ssrc + 1}),
    )


def _timed(feed: Callable[[bytes], None], datagrams: list[bytes], sink: _Sink) -> tuple[float, float]:
    """CPU and wall seconds ``feed`` took over ``datagrams`` (the sink drained between batches)."""
    cpu = wall = 0.0
    for start in range(0, len(datagrams), _BATCH):
        batch = datagrams[start : start + _BATCH]
        c0, w0 = time.process_time(), time.perf_counter()
        for datagram in batch:
            feed(datagram)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        sink.drain()
    return cpu, wall


async def _relay(datagrams: list[bytes]) -> dict[str, Any]:
    from media.forwarder import Forwarder
    from media.rtp_session import RtpSession

    sink = _Sink()
    legs = []
    for label in ("sender", "receiver"):
        session = RtpSession(label, rng=random.Random(label))
        endpoint, protocol = await _endpoint(sink)
        session.attach(endpoint)
        session._on_state("connected")
        legs.append((session, protocol))
    (sending, protocol), (receiving, _) = legs
    for kind, ssrc in (("video", 0x1111), ("audio", 0x2222)):
        sending.configure(_parameters(kind, 0x5000 + ssrc, ssrc))
        receiving.configure(_parameters(kind, 0x9000 + ssrc, 0x7777))
    forwarders = [Forwarder(sending.inbound[k], receiving.outbound[k]) for k in ("video", "audio")]
    for forwarder in forwarders:
        forwarder.start()
    address = ("127.0.0.1", 9)
    datagram_received = protocol.datagram_received
    cpu, wall = _timed(lambda d: datagram_received(d, address), datagrams, sink)
    forwarded = sum(f.stats.forwarded for f in forwarders)
    await sending.close()
    await receiving.close()
    return _result(cpu, wall, forwarded, sink)


async def _client_send(frames: int) -> dict[str, Any]:
    from media.synthetic import LoopedAudioTrack, LoopedVideoTrack, encoded_loop
    from media.synthetic_rtp import LoopedRtpSender

    sink = _Sink()
    endpoint, _ = await _endpoint(sink)
    loop = encoded_loop()
    rng = random.Random(5)
    video = LoopedRtpSender(
        LoopedVideoTrack(loop),
        ssrc=0x1111,
        payload_type=_VIDEO_PT,
        send=endpoint.send,
        rng=rng,
        rtx_ssrc=0x1112,
        rtx_payload_type=_RTX_PT,
    )
    audio = LoopedRtpSender(
        LoopedAudioTrack(loop), ssrc=0x2222, payload_type=_AUDIO_PT, send=endpoint.send, rng=rng
    )
    steps = []
    for number in range(frames):
        steps.append(video)
        if number % 2 == 0:
            steps.append(audio)
        steps.append(audio)
    cpu = wall = 0.0
    for start in range(0, len(steps), 40):
        c0, w0 = time.process_time(), time.perf_counter()
        for sender in steps[start : start + 40]:
            sender._send_frame()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        sink.drain()
    return _result(cpu, wall, video.packets_sent + audio.packets_sent, sink)


async def _client_receive(datagrams: list[bytes]) -> dict[str, Any]:
    from media.synthetic_peer import RtpCounter, SyntheticPeer

    sink = _Sink()
    endpoint, protocol = await _endpoint(sink)
    peer = SyntheticPeer.create()
    video, audio = RtpCounter("video"), RtpCounter("audio")
    peer._routes = {_VIDEO_PT: (video, False), _RTX_PT: (video, True), _AUDIO_PT: (audio, False)}
    endpoint.intercept(peer._on_rtp, None)
    address = ("127.0.0.1", 9)
    datagram_received = protocol.datagram_received
    cpu, wall = _timed(lambda d: datagram_received(d, address), datagrams, sink)
    await peer.close()
    result = _result(cpu, wall, video.packets + audio.packets, sink)
    result["digest"] = hashlib.sha256(repr((video.frames, video.numbers, audio.frames)).encode()).hexdigest()
    return result


def _result(cpu: float, wall: float, packets: int, sink: _Sink) -> dict[str, Any]:
    sink.drain()
    sink.close()
    return {
        "cpu_ns": 1e9 * cpu / max(packets, 1),
        "wall_ns": 1e9 * wall / max(packets, 1),
        "packets": packets,
        "datagrams": sink.datagrams,
        "digest": sink.digest.hexdigest(),
    }


async def _child_async(frames: int) -> dict[str, Any]:
    datagrams = _encrypted(_captured(frames))
    return {
        "relay": await _relay(datagrams),
        "client_send": await _client_send(frames),
        "client_receive": await _client_receive(datagrams),
    }


def child(frames: int) -> None:
    """Measure this process's ``media`` (the tree first on ``sys.path``); print JSON."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(_child_async(frames))), flush=True)


# --- the parent: both trees, side by side ------------------------------------------------------


def _baseline_tree(rev: str, directory: str) -> str:
    """``media/`` at ``rev``, extracted under ``directory``."""
    git, tar = shutil.which("git"), shutil.which("tar")
    if git is None or tar is None:
        raise SystemExit("bench.rtp_path needs git and tar for the baseline tree")
    archive = subprocess.run([git, "archive", rev, "media"], check=True, capture_output=True).stdout
    subprocess.run([tar, "-x", "-C", directory], input=archive, check=True)
    return directory


def _run(tree: str | None, frames: int) -> dict[str, Any]:
    here = os.getcwd()
    path = os.pathsep.join([tree, here] if tree else [here])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    code = f"import bench.rtp_path as m; m.child({frames})"
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=400, help="video frames per round (and their audio)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each tree")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the old media/")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.rounds < 1:
        parser.error("--frames and --rounds must be at least 1")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="loket-rtp-path-") as directory:
        old_tree = _baseline_tree(args.baseline_rev, directory)
        for _ in range(args.rounds):
            results["old"].append(_run(old_tree, args.frames))
            results["new"].append(_run(None, args.frames))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'path':<15} {'old cpu ns/pkt':>15} {'new cpu ns/pkt':>15} {'ratio':>6}   wall ns/pkt old/new")
    for part in ("relay", "client_send", "client_receive"):
        old = [r[part] for r in results["old"]]
        new = [r[part] for r in results["new"]]
        old_cpu, new_cpu = (statistics.median(r["cpu_ns"] for r in rs) for rs in (old, new))
        old_wall, new_wall = (statistics.median(r["wall_ns"] for r in rs) for rs in (old, new))
        same = {r["digest"] for r in old} == {r["digest"] for r in new} and len(
            {r["digest"] for r in new}
        ) == 1
        print(
            f"{part:<15} {old_cpu:>15.0f} {new_cpu:>15.0f} {old_cpu / new_cpu:>6.2f}   "
            f"{old_wall:.0f}/{new_wall:.0f}  packets {old[0]['packets']}/{new[0]['packets']}, "
            f"same bytes out: {'yes' if same else 'NO'}"
        )


if __name__ == "__main__":
    main()
