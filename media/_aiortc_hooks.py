"""Every use of aiortc private API in Loket, in one module.

aiortc decodes what an ``RTCRtpReceiver`` receives and encodes what an ``RTCRtpSender``
sends. A forwarding server needs neither (nor does the synthetic peer of tests and
benchmarks), and aiortc has no public API for four things:

(a) taking the encoded frames a receiver reassembles (its jitter buffer output) instead of
    decoded ones: :func:`tap_encoded_frames`;
(b) knowing which codec a sender was negotiated to send, so the forwarder only gives it
    frames of that codec: :func:`negotiated_codec`. (Sending itself needs no hook: a track
    whose ``recv()`` returns an ``av.Packet`` is packetized by ``encoder.pack()`` without
    encoding; :func:`check_aiortc_internals` verifies aiortc still does that.)
(c) keyframe requests both ways: :func:`on_keyframe_request` (a remote peer sent PLI/FIR for
    one of our senders) and :func:`send_picture_loss_indication` (ask a remote sender for a
    keyframe).
(d) counting what arrives without receiving it: :func:`divert_rtp` hands a receiver's RTP
    packets to a callback, skipping aiortc's whole receive path (the synthetic peer of tests
    and benchmarks, ``media.synthetic_peer``, counts frames and loss this way).

Each hook says which aiortc internal it relies on and why. aiortc is pinned to
:data:`VERIFIED_AIORTC_VERSION`; :func:`check_aiortc_internals` fails loudly, naming what
changed, when an upgrade moves any of these internals.
"""

from __future__ import annotations

import functools
import inspect
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import aiortc
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtcrtpreceiver as aiortc_rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.errors import AiortcInternalsError

logger = logging.getLogger(__name__)

#: The aiortc release these hooks were written against and verified with.
VERIFIED_AIORTC_VERSION = "1.16.0"

# Name-mangled attributes of RTCRtpReceiver that the hooks read or replace.
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_STARTED = "_RTCRtpReceiver__started"
_CODECS = "_RTCRtpReceiver__codecs"

# How long a lost packet may hold up later frames before we skip it. Video packets are
# NACKed (RFC 4585) and may come back retransmitted within a round trip or two; aiortc does
# not NACK audio, so only reordering is worth waiting for.
_VIDEO_MAX_WAIT_S = 0.5
_AUDIO_MAX_WAIT_S = 0.1


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """An encoded frame as an aiortc receiver reassembled it.

    ``timestamp`` is the RTP timestamp after aiortc's ``TimestampMapper`` (counted from the
    stream's first frame, wrap-around unwrapped). ``first_sequence``/``last_sequence`` are the
    RTP sequence numbers of the frame's first and last packet: a gap to the previous frame
    means packets were lost.
    """

    codec: RTCRtpCodecParameters
    data: bytes
    timestamp: int
    first_sequence: int
    last_sequence: int
    ssrc: int


class _SequencedJitterFrame(JitterFrame):
    """aiortc's ``JitterFrame`` plus the RTP sequence numbers and SSRC it came from."""

    def __init__(self, data: bytes, timestamp: int, first: int, last: int, ssrc: int) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.first_sequence = first
        self.last_sequence = last
        self.ssrc = ssrc


class _SequencedJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, telling which sequence numbers each frame spans, and not
    waiting forever for a lost packet.

    Relies on ``JitterBuffer._remove_frame()`` building a frame from the packets that start
    at ``self._origin`` and, when it returns one, advancing ``_origin`` just past that
    frame's packets (``JitterBuffer.remove``). aiortc hands out no sequence numbers, and
    without them a lost frame is invisible once the frames are reassembled.

    aiortc's buffer waits for a missing packet until the buffer overflows (512 packets, many
    seconds of video); its decoder then asks for a keyframe. Once the packets behind a gap
    span more than ``max_wait_s`` (time for NACK and a retransmission, RFC 4588), we give
    up on the gap with aiortc's ``smart_remove`` (which drops the frame it cuts) and go on;
    the next frame is then reported after a sequence gap, so the forwarder asks for a
    keyframe.

    ``prefetch`` is 0: aiortc holds 4 audio frames back for its own decoder; a forwarder
    would only add 80 ms of delay, the receiving browser has its own jitter buffer.
    """

    def __init__(self, capacity: int, is_video: bool, max_wait_s: float, clock_rate: int) -> None:
        super().__init__(capacity=capacity, prefetch=0, is_video=is_video)
        self._ssrc = 0
        self._max_wait_ticks = int(max_wait_s * clock_rate)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self._ssrc = packet.ssrc
        pli_flag, frame = super().add(packet)
        if frame is None and self._waited_too_long(packet.timestamp):
            # Skip the contiguous head (a frame missing its tail) and the gap after it.
            self.smart_remove(self._contiguous_head() + 1)
            frame = self._remove_frame(packet.sequence_number)
        return pli_flag, frame

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        first = self._origin
        frame = super()._remove_frame(sequence_number)
        if frame is None or first is None or self._origin is None:
            return frame
        last = (self._origin - 1) & 0xFFFF
        return _SequencedJitterFrame(frame.data, frame.timestamp, first, last, self._ssrc)

    def _slot(self, count: int) -> RtpPacket | None:
        assert self._origin is not None
        return self._packets[(self._origin + count) % self._capacity]

    def _contiguous_head(self) -> int:
        count = 0
        while count < self._capacity and self._slot(count) is not None:
            count += 1
        return count

    def _waited_too_long(self, newest_timestamp: int) -> bool:
        if self._origin is None:
            return False
        for count in range(self._capacity):
            oldest = self._slot(count)
            if oldest is not None:
                span = (newest_timestamp - oldest.timestamp) & 0xFFFFFFFF
                return self._max_wait_ticks < span < 1 << 31
        return False


class _EncodedFrameTap:
    """Stands in for ``RTCRtpReceiver.__decoder_queue`` (a ``queue.Queue``).

    aiortc's ``RTCRtpReceiver._handle_rtp_packet`` runs on the event loop and puts
    ``(codec, JitterFrame)`` into that queue for its decoder thread (``decoder_worker``),
    and ``__stop_decoder`` puts ``None`` to end the thread. We hand each frame to the
    callback instead, so nothing is ever decoded. The decoder thread, still started by
    ``receive()``, blocks idle in :meth:`get` until the stop marker, then ends the remote
    track exactly as aiortc does.
    """

    def __init__(self, callback: Callable[[ReceivedFrame], None]) -> None:
        self._callback = callback
        self._stopped: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self._stopped.put(None)
            return
        codec, frame = item
        if not isinstance(frame, _SequencedJitterFrame):
            # Not from our jitter buffer: the receiver's internals changed under us. Raising
            # here would end aiortc's RTP handling for the whole connection; drop instead.
            logger.error("RTCRtpReceiver reassembled a frame outside the tapped jitter buffer")
            return
        received = ReceivedFrame(
            codec=codec,
            data=frame.data,
            timestamp=frame.timestamp,
            first_sequence=frame.first_sequence,
            last_sequence=frame.last_sequence,
            ssrc=frame.ssrc,
        )
        try:
            self._callback(received)
        except Exception:
            # Never let a consumer's bug break aiortc's RTP handling for this connection.
            logger.exception("encoded frame consumer failed")

    def get(self) -> None:
        # Called by aiortc's decoder thread: park it until the receiver stops.
        return self._stopped.get()


def tap_encoded_frames(
    receiver: RTCRtpReceiver, kind: str, callback: Callable[[ReceivedFrame], None]
) -> None:
    """Deliver the receiver's encoded frames to ``callback`` (on the event loop); never decode.

    Must be called before the receiver starts, i.e. after ``setRemoteDescription`` created
    it and before the connection is established (``RTCRtpReceiver.receive`` starts the
    decoder thread with whatever queue is in place then).
    """
    if getattr(receiver, _STARTED):
        raise RuntimeError("tap_encoded_frames() must be called before the receiver starts")
    if is_tapped(receiver):
        raise RuntimeError("this receiver is already tapped")
    old_buffer = cast(JitterBuffer, getattr(receiver, _JITTER_BUFFER))
    is_video = kind == "video"
    buffer = _SequencedJitterBuffer(
        old_buffer.capacity,
        is_video=is_video,
        max_wait_s=_VIDEO_MAX_WAIT_S if is_video else _AUDIO_MAX_WAIT_S,
        # RTP clock rates: 90 kHz for video (RFC 7741 for VP8), 48 kHz for Opus (RFC 7587).
        clock_rate=90000 if is_video else 48000,
    )
    setattr(receiver, _JITTER_BUFFER, buffer)
    setattr(receiver, _DECODER_QUEUE, _EncodedFrameTap(callback))


def is_tapped(receiver: RTCRtpReceiver) -> bool:
    """Whether :func:`tap_encoded_frames` replaced this receiver's decoder path."""
    return isinstance(getattr(receiver, _DECODER_QUEUE, None), _EncodedFrameTap)


async def send_picture_loss_indication(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the remote sender of ``media_ssrc`` for a keyframe (RFC 4585 section 6.3.1).

    Relies on ``RTCRtpReceiver._send_rtcp_pli``, which aiortc itself calls when its jitter
    buffer drops packets or its decoder fails; aiortc has no public keyframe request.
    """
    await receiver._send_rtcp_pli(media_ssrc)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the remote peer asks this sender for a keyframe.

    Relies on ``RTCRtpSender._handle_rtcp_packet`` calling ``self._send_keyframe()`` for
    both PLI and FIR (RFC 4585 section 6.3.1, RFC 5104 section 4.3.1). aiortc's own
    ``_send_keyframe`` only flags its encoder, which a forwarding sender never uses, so
    the request would be lost; we wrap it on this one instance to pass it on.
    """
    original = sender._send_keyframe

    def _send_keyframe() -> None:
        original()
        callback()

    sender._send_keyframe = _send_keyframe  # type: ignore[method-assign]


def negotiated_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters | None:
    """The codec this transceiver's sender sends, once negotiated.

    Relies on ``RTCRtpTransceiver._codecs``: set by ``setRemoteDescription`` in preference
    order, passed by ``RTCPeerConnection`` to ``sender.send()``, whose RTP loop sends
    ``codecs[0]``. aiortc has no ``RTCRtpSender.getParameters()``.
    """
    codecs = transceiver._codecs
    return codecs[0] if codecs else None


RtpCallback = Callable[[RtpPacket, RTCRtpCodecParameters], None]


def divert_rtp(receiver: RTCRtpReceiver, callback: RtpCallback) -> None:
    """Hand every RTP packet routed to ``receiver`` to ``callback`` (on the event loop), with
    the codec its payload type was negotiated for; aiortc's receive path never sees it.

    Skipped with it: bandwidth estimation (REMB), RTCP reception statistics, NACKs, the jitter
    buffer and the decoder. A packet of an unknown payload type is dropped, as aiortc does.

    Relies on ``RTCDtlsTransport._handle_rtp_data`` awaiting
    ``receiver._handle_rtp_packet(packet, arrival_time_ms=...)`` for each decrypted, parsed
    packet, which we replace on this one instance, and on ``RTCRtpReceiver.__codecs`` (payload
    type to codec, filled by ``receive()``). aiortc offers no way to receive RTP undecoded.
    """
    codecs = cast(dict[int, RTCRtpCodecParameters], getattr(receiver, _CODECS))

    async def _handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        try:
            callback(packet, codec)
        except Exception:
            # As in the frame tap: a consumer's bug must not end the connection's RTP handling.
            logger.exception("RTP consumer failed")

    receiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]


class _StubTransport:
    """Just enough of an ``RTCDtlsTransport`` for ``RTCRtpReceiver.__init__``."""

    state = "new"


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


@functools.cache
def _verify() -> None:
    problems: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    # (a) receiver: decoder queue, jitter buffer, start flag.
    receiver = RTCRtpReceiver("video", cast(RTCDtlsTransport, _StubTransport()))
    decoder_queue = getattr(receiver, _DECODER_QUEUE, None)
    expect(
        hasattr(decoder_queue, "put") and hasattr(decoder_queue, "get"),
        "RTCRtpReceiver.__decoder_queue (a queue with put/get)",
    )
    expect(
        isinstance(getattr(receiver, _JITTER_BUFFER, None), JitterBuffer),
        "RTCRtpReceiver.__jitter_buffer (a JitterBuffer)",
    )
    expect(getattr(receiver, _STARTED, None) is False, "RTCRtpReceiver.__started (False before receive())")
    handle_rtp = _source(RTCRtpReceiver._handle_rtp_packet)
    expect(
        "self.__jitter_buffer.add(packet)" in handle_rtp,
        "RTCRtpReceiver._handle_rtp_packet feeding self.__jitter_buffer.add(packet)",
    )
    expect(
        "self.__decoder_queue.put((codec, encoded_frame))" in handle_rtp,
        "RTCRtpReceiver._handle_rtp_packet putting (codec, encoded_frame) in self.__decoder_queue",
    )
    expect(
        "self.__decoder_queue" in _source(RTCRtpReceiver.receive),
        "RTCRtpReceiver.receive starting the decoder thread on self.__decoder_queue",
    )
    worker = getattr(aiortc_rtcrtpreceiver, "decoder_worker", None)
    expect(
        worker is not None and "input_q.get()" in _source(worker),
        "rtcrtpreceiver.decoder_worker reading input_q.get() and stopping on None",
    )
    buffer = JitterBuffer(capacity=16)
    for attribute in ("_origin", "_packets", "_capacity", "smart_remove"):
        expect(hasattr(buffer, attribute), f"JitterBuffer.{attribute}")
    expect(
        "self._remove_frame(" in _source(JitterBuffer.add)
        and "self.remove(remove)" in _source(getattr(JitterBuffer, "_remove_frame", None)),
        "JitterBuffer.add returning _remove_frame(), which removes the frame's packets",
    )
    expect(
        list(inspect.signature(JitterFrame).parameters) == ["data", "timestamp"],
        "JitterFrame(data, timestamp)",
    )
    expect(
        inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)),
        "RTCRtpReceiver._send_rtcp_pli (async)",
    )
    # (b) sender: packetize av.Packet without encoding; negotiated codecs.
    expect(
        ".pack(data)" in _source(getattr(RTCRtpSender, "_next_encoded_frame", None)),
        "RTCRtpSender._next_encoded_frame packing an av.Packet with encoder.pack()",
    )
    expect("self._codecs" in _source(RTCRtpTransceiver.__init__), "RTCRtpTransceiver._codecs")
    # (c) sender: keyframe requests from the remote peer.
    expect(callable(getattr(RTCRtpSender, "_send_keyframe", None)), "RTCRtpSender._send_keyframe")
    expect(
        "self._send_keyframe()" in _source(getattr(RTCRtpSender, "_handle_rtcp_packet", None)),
        "RTCRtpSender._handle_rtcp_packet calling self._send_keyframe() on PLI/FIR",
    )

    # (d) receiver: RTP diverted before aiortc's receive path.
    expect(
        isinstance(getattr(receiver, _CODECS, None), dict),
        "RTCRtpReceiver.__codecs (a dict of payload type to codec)",
    )
    expect(
        inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_handle_rtp_packet", None)),
        "RTCRtpReceiver._handle_rtp_packet (async)",
    )
    expect(
        "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)"
        in _source(getattr(RTCDtlsTransport, "_handle_rtp_data", None)),
        "RTCDtlsTransport._handle_rtp_data awaiting receiver._handle_rtp_packet(packet, arrival_time_ms=...)",
    )

    if problems:
        raise AiortcInternalsError(
            f"aiortc {aiortc.__version__} lacks internals that media/_aiortc_hooks.py relies on "
            f"(verified with {VERIFIED_AIORTC_VERSION}): " + "; ".join(problems)
        )


def check_aiortc_internals() -> None:
    """Raise :class:`~media.errors.AiortcInternalsError` naming every aiortc internal that changed.

    Cheap after the first call (the result is cached); legs call it before using any hook.
    """
    _verify()

# =============================================================================================
# ICE ports: the UDP port range and public address of the server's candidates.
# (This last section belongs to the media-nodes work; everything above to the RTP relay.)
# =============================================================================================
#
# (e) aioice binds each host candidate to port 0 of every local address
#     (``Connection.get_component_candidates``: ``local_addr=(address, 0)``); neither aioice 0.13
#     nor aiortc takes a port range or an address announced for a NAT. A media node in a
#     container or behind a firewall publishes one fixed UDP range, and visitors must be given
#     the address that range is published on: :func:`bind_ice_candidates`.

import asyncio  # noqa: E402
import errno  # noqa: E402
import ipaddress  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402

from aioice import Candidate, Connection  # noqa: E402
from aioice import ice as aioice_ice  # noqa: E402
from aioice import turn as aioice_turn  # noqa: E402
from aioice.candidate import candidate_foundation, candidate_priority  # noqa: E402
from aiortc import RTCPeerConnection  # noqa: E402
from aiortc.rtcicetransport import RTCIceGatherer  # noqa: E402

from media.errors import IcePortsExhausted  # noqa: E402

# Set on an aioice Connection whose gathering :func:`bind_ice_candidates` took over.
_ICE_HOOKED = "_loket_ice_ports"


def bind_ice_candidates(
    pc: RTCPeerConnection, *, udp_ports: tuple[int, int] | None, public_address: str | None
) -> None:
    """Make ``pc``'s coming ICE gathering bind within ``udp_ports`` and announce ``public_address``.

    Call it after ``setRemoteDescription`` (which creates the transports, and drops those that
    BUNDLE merges) and before ``setLocalDescription`` (which gathers); transports that gathered
    already are left alone, so calling it again on a renegotiation is harmless.

    *Ports.* Each host candidate is bound to a free port of ``udp_ports`` (first, last), tried
    from a random one onwards, as aioice would bind port 0; then, as aioice does, a STUN server
    gives server-reflexive candidates and a TURN server a relayed one. A range with no free port
    left on an address raises :class:`~media.errors.IcePortsExhausted` from the gathering.

    *Public address.* For each host candidate of its IP version, a server-reflexive candidate
    (RFC 8445 section 5.1.1.2) with ``public_address`` and the host candidate's port: what a STUN
    server would report for a node behind a 1:1 NAT or a published port range. The host
    candidates stay, for peers on the node's own network (coturn, in docker-compose).

    Relies on ``RTCIceGatherer._connection`` (the aioice ``Connection``) and on
    ``Connection.gather_candidates`` awaiting ``self.get_component_candidates(component=...,
    addresses=...)``, which we replace on this one connection; the host candidates are made as
    aioice makes them (``StunProtocol``, appended to ``Connection._protocols``).
    """
    if udp_ports is None and public_address is None:
        return
    check_ice_ports_internals()
    for gatherer in _ice_gatherers(pc):
        connection = gatherer._connection
        if gatherer.state != "new" or getattr(connection, _ICE_HOOKED, False):
            continue
        setattr(connection, _ICE_HOOKED, True)
        gathering = _RangedGathering(connection, udp_ports=udp_ports, public_address=public_address)
        connection.get_component_candidates = gathering  # type: ignore[method-assign]


def _ice_gatherers(pc: RTCPeerConnection) -> list[RTCIceGatherer]:
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    gatherers: dict[int, RTCIceGatherer] = {}
    for dtls in transports:
        gatherer = dtls.transport.iceGatherer
        gatherers[id(gatherer)] = gatherer
    return list(gatherers.values())


class _RangedGathering:
    """Stands in for one ``Connection.get_component_candidates`` (see :func:`bind_ice_candidates`)."""

    def __init__(
        self, connection: Connection, *, udp_ports: tuple[int, int] | None, public_address: str | None
    ) -> None:
        self._connection = connection
        self._aioice_gathering = connection.get_component_candidates
        self._udp_ports = udp_ports
        self._public_address = public_address

    async def __call__(self, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        if self._udp_ports is None:
            candidates = await self._aioice_gathering(
                component=component, addresses=addresses, timeout=timeout
            )
        else:
            protocols = [
                protocol
                for address in addresses
                if (protocol := await self._bind(component, address, self._udp_ports)) is not None
            ]
            # Without host addresses aioice only allocates the TURN relay (if it has a server).
            relayed, reflexive = await asyncio.gather(
                self._aioice_gathering(component=component, addresses=[], timeout=timeout),
                self._server_reflexive(protocols, timeout),
            )
            candidates = [protocol.local_candidate for protocol in protocols] + reflexive + relayed
        if self._public_address is not None:
            candidates += _announced(candidates, self._public_address)
        return candidates

    async def _bind(
        self, component: int, address: str, udp_ports: tuple[int, int]
    ) -> aioice_ice.StunProtocol | None:
        loop = asyncio.get_running_loop()
        first, last = udp_ports
        size = last - first + 1
        start = secrets.randbelow(size)
        connection = self._connection
        for offset in range(size):
            port = first + (start + offset) % size
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: aioice_ice.StunProtocol(connection), local_addr=(address, port)
                )
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    continue
                # As aioice: an address that cannot be bound at all gives no candidate.
                logger.info("ICE: cannot bind to %s: %s", address, exc)
                return None
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice_turn.UDP_SOCKET_BUFFER_SIZE)
            host, bound_port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=bound_port,
                type="host",
            )
            connection._protocols.append(protocol)
            return protocol
        logger.error(
            "ICE: every UDP port of %d-%d is taken on %s (LOKET_MEDIA_UDP_PORTS)", first, last, address
        )
        raise IcePortsExhausted("this media server has no free UDP port left for another connection")

    async def _server_reflexive(
        self, protocols: list[aioice_ice.StunProtocol], timeout: int
    ) -> list[Candidate]:
        stun_server = self._connection.stun_server
        if stun_server is None:
            return []
        tasks = [
            asyncio.create_task(aioice_ice.server_reflexive_candidate(protocol, stun_server))
            for protocol in protocols
            if ipaddress.ip_address(protocol.local_candidate.host).version == 4  # as aioice: IPv4 only
        ]
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [task.result()[0] for task in done if task.exception() is None]


def _announced(candidates: list[Candidate], public_address: str) -> list[Candidate]:
    version = ipaddress.ip_address(public_address).version
    known = {(c.host, c.port) for c in candidates}
    return [
        Candidate(
            foundation=candidate_foundation("srflx", "udp", host.host),
            component=host.component,
            transport=host.transport,
            priority=candidate_priority(host.component, "srflx"),
            host=public_address,
            port=host.port,
            type="srflx",
            related_address=host.host,
            related_port=host.port,
        )
        for host in candidates
        if host.type == "host"
        and ipaddress.ip_address(host.host).version == version
        and (public_address, host.port) not in known
    ]


@functools.cache
def _verify_ice_ports() -> None:
    problems: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    gatherer = RTCIceGatherer(iceServers=[])
    connection = getattr(gatherer, "_connection", None)
    expect(isinstance(connection, Connection), "RTCIceGatherer._connection (an aioice Connection)")
    expect(
        "self._connection.gather_candidates()" in _source(RTCIceGatherer.gather),
        "RTCIceGatherer.gather awaiting self._connection.gather_candidates()",
    )
    expect(
        "self.get_component_candidates(component=component, addresses=addresses)"
        in _source(Connection.gather_candidates),
        "Connection.gather_candidates calling self.get_component_candidates(component=, addresses=)",
    )
    component_candidates = getattr(Connection, "get_component_candidates", None)
    expect(
        inspect.iscoroutinefunction(component_candidates)
        and list(inspect.signature(component_candidates).parameters)
        == ["self", "component", "addresses", "timeout"],
        "Connection.get_component_candidates(self, component, addresses, timeout) (async)",
    )
    body = _source(component_candidates)
    expect(
        "local_addr=(address, 0)" in body and "self._protocols += host_protocols" in body,
        "Connection.get_component_candidates binding port 0 per address into self._protocols",
    )
    expect(
        "for address in addresses" in body and "if self.turn_server" in body,
        "Connection.get_component_candidates: host candidates per address, then TURN",
    )
    expect(isinstance(getattr(connection, "_protocols", None), list), "Connection._protocols (a list)")
    expect(hasattr(connection, "stun_server"), "Connection.stun_server")
    expect(
        "local_candidate" in getattr(aioice_ice.StunProtocol, "__annotations__", {}),
        "aioice.ice.StunProtocol.local_candidate",
    )
    reflexive = getattr(aioice_ice, "server_reflexive_candidate", None)
    expect(
        inspect.iscoroutinefunction(reflexive)
        and list(inspect.signature(reflexive).parameters) == ["protocol", "stun_server"],
        "aioice.ice.server_reflexive_candidate(protocol, stun_server) (async)",
    )
    expect(
        isinstance(getattr(aioice_turn, "UDP_SOCKET_BUFFER_SIZE", None), int),
        "aioice.turn.UDP_SOCKET_BUFFER_SIZE",
    )
    if problems:
        raise AiortcInternalsError(
            "aioice/aiortc lack internals that media/_aiortc_hooks.py (ICE ports) relies on: "
            + "; ".join(problems)
        )


def check_ice_ports_internals() -> None:
    """Raise :class:`~media.errors.AiortcInternalsError` naming every aioice or aiortc internal
    that :func:`bind_ice_candidates` relies on and that changed (cached after the first call)."""
    _verify_ice_ports()
