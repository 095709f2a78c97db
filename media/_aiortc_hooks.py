"""Every use of aiortc private API in Loket, in one module.

aiortc's ``RTCRtpReceiver`` depacketizes and decodes what arrives, its ``RTCRtpSender``
encodes and packetizes what it sends. A forwarding server needs neither: it forwards RTP
packets (``media.forwarder``). aiortc has no public API for what that takes:

(a) **RTP below aiortc**: :class:`SrtpEndpoint` receives every decrypted RTP and RTCP packet
    of a leg at its ``RTCDtlsTransport`` (before aiortc parses and routes it) and sends
    packets encrypted with the transport's SRTP session (pylibsrtp) straight to the ICE pair;
    :func:`bypass_rtp_stack` keeps aiortc's own sender and receiver of a transceiver from
    starting (no RTP/RTCP loops, no decoder thread), and :func:`stream_parameters` reads what
    was negotiated (payload types, header extensions, MID, our SSRCs, the party's SSRCs).
(b) **Frames for recording**: :class:`FrameAssembler` turns one party's packets into encoded
    frames with aiortc's depayloaders and jitter buffer, for recorded legs only, in the codecs
    that ``media.depacketizer`` does not handle itself.
(c) **The synthetic peer** (tests and benchmarks) sends its pre-built packets in place of
    aiortc's senders (:func:`take_over_sender`: the negotiated SSRCs and codecs, the SRTP
    session, and the RTCP aiortc routes to the sender), and :func:`divert_rtp` hands its
    receivers' packets to a counter instead of the decoder (for a peer whose descriptions a
    test applied itself).

Each hook says which aiortc internal it relies on and why. aiortc is pinned to
:data:`VERIFIED_AIORTC_VERSION`; :func:`check_aiortc_internals` fails loudly, naming what
changed, when an upgrade moves any of these internals.
"""

from __future__ import annotations

import functools
import inspect
import logging
import struct
from asyncio import get_running_loop, sleep
from asyncio import selector_events as asyncio_selector_events
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import aiortc
import pylibsrtp
from aioice import ice as aioice_ice_module
from aioice import turn as aioice_turn_module
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtcicetransport as aiortc_rtcicetransport
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import depayload, is_rtx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import RtpPacket
from pylibsrtp._binding import ffi as pylibsrtp_ffi  # type: ignore[import-not-found]
from pylibsrtp._binding import lib as pylibsrtp_lib

from media.depacketizer import AssembledFrame
from media.errors import AiortcInternalsError
from media.rtp_header import RtpFields
from media.rtp_params import Codec, StreamParameters

logger = logging.getLogger(__name__)

#: The aiortc release these hooks were written against and verified with.
VERIFIED_AIORTC_VERSION = "1.16.0"

# Bytes a leg's UDP transport may hold back (the socket would block) before packets are dropped.
_MAX_WRITE_BUFFER = 64 * 1024
# Set on a sender/receiver whose send()/receive() :func:`bypass_rtp_stack` replaced.
_BYPASSED = "_loket_bypassed"
# Name-mangled attribute of RTCRtpReceiver: payload type to codec.
_RECEIVER_CODECS = "_RTCRtpReceiver__codecs"

# How long a lost packet may hold up later frames before we skip it. Video packets are
# NACKed (RFC 4585) and may come back retransmitted within a round trip or two; audio is not
# NACKed, so only reordering is worth waiting for.
_VIDEO_MAX_WAIT_S = 0.5
_AUDIO_MAX_WAIT_S = 0.1


# --- (a) RTP below aiortc --------------------------------------------------------------------

PacketCallback = Callable[[bytes], None]

# Room for an RTP packet of an ordinary UDP datagram plus the SRTP(C) trailer; pylibsrtp's own
# buffer is 1500 bytes. A longer packet is dropped, as pylibsrtp refuses it ("too long").
_SRTP_BUFFER = 2048
_SRTP_TRAILER = 16 + 128 + 4  # tag + MKI (+ SRTCP index)
_SRTP_OK: int = pylibsrtp_lib.srtp_err_status_ok
_HEADER = struct.Struct("!BBHII")


class SrtpContext:
    """One ``pylibsrtp.Session``'s protect and unprotect, without pylibsrtp's wrapper.

    ``Session.protect`` and friends allocate an ``int *`` with cffi, check the type, copy in,
    call libsrtp, raise through a helper and copy out on every call: three times the cost of
    the encryption itself for a forwarded packet. Here the output buffer and the length are
    allocated once per session and libsrtp's functions are called directly through
    ``pylibsrtp._binding`` with the session's ``srtp_t`` (``Session._srtp[0]``). A failure
    (not authentic, a replay, too long) gives ``None``. The protected packets are views of
    the one buffer, valid until the next call: send them at once.
    """

    __slots__ = ("_buffer", "_length", "_srtp", "_view", "session")

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session  # keeps the libsrtp context alive as long as we use it
        self._srtp = session._srtp[0]
        self._buffer = pylibsrtp_ffi.new("char[]", _SRTP_BUFFER)
        self._view = memoryview(pylibsrtp_ffi.buffer(self._buffer))
        self._length = pylibsrtp_ffi.new("int *")

    def unprotect(self, data: bytes) -> bytes | None:
        size = len(data)
        if size > _SRTP_BUFFER:
            return None
        self._view[:size] = data
        length = self._length
        length[0] = size
        if pylibsrtp_lib.srtp_unprotect(self._srtp, self._buffer, length) != _SRTP_OK:
            return None
        return self._view[: length[0]].tobytes()

    def unprotect_rtcp(self, data: bytes) -> bytes | None:
        size = len(data)
        if size > _SRTP_BUFFER:
            return None
        self._view[:size] = data
        length = self._length
        length[0] = size
        if pylibsrtp_lib.srtp_unprotect_rtcp(self._srtp, self._buffer, length) != _SRTP_OK:
            return None
        return self._view[: length[0]].tobytes()

    def protect(self, data: bytes) -> memoryview | None:
        size = len(data)
        if size > _SRTP_BUFFER - _SRTP_TRAILER:
            return None
        self._view[:size] = data
        length = self._length
        length[0] = size
        if pylibsrtp_lib.srtp_protect(self._srtp, self._buffer, length) != _SRTP_OK:
            return None
        return self._view[: length[0]]

    def protect_rtcp(self, data: bytes) -> memoryview | None:
        size = len(data)
        if size > _SRTP_BUFFER - _SRTP_TRAILER:
            return None
        self._view[:size] = data
        length = self._length
        length[0] = size
        if pylibsrtp_lib.srtp_protect_rtcp(self._srtp, self._buffer, length) != _SRTP_OK:
            return None
        return self._view[: length[0]]

    def protect_rewritten(
        self, data: bytes, second: int, sequence: int, timestamp: int, ssrc: int
    ) -> memoryview | None:
        """``data`` with its second header byte, sequence number, timestamp and SSRC
        replaced (written straight into the buffer, RFC 3550 section 5.1), protected."""
        size = len(data)
        if size > _SRTP_BUFFER - _SRTP_TRAILER:
            return None
        view = self._view
        view[:size] = data
        _HEADER.pack_into(view, 0, data[0], second, sequence, timestamp, ssrc)
        length = self._length
        length[0] = size
        if pylibsrtp_lib.srtp_protect(self._srtp, self._buffer, length) != _SRTP_OK:
            return None
        return view[: length[0]]


class SrtpEndpoint:
    """A leg's ``RTCDtlsTransport``, used below aiortc's RTP stack.

    :meth:`intercept` replaces, on this one transport instance, ``_handle_rtp_data`` and
    ``_handle_rtcp_data``: aiortc's ``_recv_next`` calls them with each packet its rx SRTP
    session decrypted, and they would parse it into an ``RtpPacket``/``RtcpPacket`` and route
    it to aiortc's receivers and senders. Ours hand the bytes to the callbacks instead.

    :meth:`send` protects a packet with the transport's tx SRTP session (``_tx_srtp``, what
    ``_send_rtp`` uses; through :class:`SrtpContext`) and writes it to the nominated ICE
    pair's UDP socket at once (aioice's ``Connection._nominated`` and
    ``StunProtocol.send_data`` do only that, but behind two coroutines per packet; asyncio's
    ``_SelectorDatagramTransport.sendto`` adds checks we make once per pair: we call its
    ``_sock.sendto`` while its write buffer is empty, as it does itself). A pair through a
    TURN server goes through aioice's ``TurnTransport.sendto`` (the relayed candidate's
    transport, which wraps the data for the server in a task).
    """

    def __init__(self, transport: RTCDtlsTransport) -> None:
        self.transport = transport
        self._pending: set[Any] = set()
        self._nominated: dict[int, Any] = transport.transport._connection._nominated
        self._tx: SrtpContext | None = None
        self._rx: SrtpContext | None = None
        # The pair last sent on, and how: its asyncio transport, socket and address.
        self._pair: Any = None
        self._udp: Any = None
        self._sock: Any = None
        self._addr: Any = None

    @property
    def connected(self) -> bool:
        return self.transport._state is DtlsState.CONNECTED

    def _tx_context(self) -> SrtpContext | None:
        session = self.transport._tx_srtp
        if session is None:
            return None
        context = self._tx
        if context is None or context.session is not session:
            context = self._tx = SrtpContext(session)
        return context

    def _rx_context(self) -> SrtpContext | None:
        session = self.transport._rx_srtp
        if session is None:
            return None
        context = self._rx
        if context is None or context.session is not session:
            context = self._rx = SrtpContext(session)
        return context

    def intercept(self, on_rtp: PacketCallback, on_rtcp: PacketCallback | None) -> None:
        """Hand every decrypted RTP/RTCP packet to ``on_rtp``/``on_rtcp`` (on the event loop).

        Two ways in, both on this transport's instances only. The short one: SRTP datagrams
        are decrypted and handed over from the UDP socket's ``datagram_received`` itself, as
        soon as the rx SRTP session exists. aioice's ``StunProtocol.datagram_received`` would
        first try to parse each one as STUN, then ``Connection.data_received`` would queue it
        for ``RTCDtlsTransport``'s receive task, which wakes up once per packet to decrypt it
        in ``_recv_next``: three Python layers and a task switch per packet that forwarding
        does not need. The long one, for datagrams that take aiortc's path all the same (a
        TURN relay, or packets queued before the keys existed): ``_handle_rtp_data`` and
        ``_handle_rtcp_data``, which ``_recv_next`` calls with what it decrypted.

        Without ``on_rtcp``, RTCP keeps aiortc's way (to aiortc's own senders and receivers:
        the synthetic peer's).
        """
        transport = self.transport

        async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            on_rtp(data)

        async def _handle_rtcp_data(data: bytes) -> None:
            if on_rtcp is not None:
                on_rtcp(data)

        transport._handle_rtp_data = _handle_rtp_data  # type: ignore[method-assign]
        if on_rtcp is not None:
            transport._handle_rtcp_data = _handle_rtcp_data  # type: ignore[method-assign]

        connection = transport.transport._connection
        queue_datagram = connection.data_received
        rx_context = self._rx_context

        def data_received(data: bytes, component: int) -> None:
            # Only the rx session's presence is read per packet; the context follows it.
            context = self._rx
            if context is None or context.session is not transport._rx_srtp:
                context = rx_context()
                if context is None:
                    queue_datagram(data, component)  # SRTP before the keys: aiortc's way
                    return
            try:
                if 191 < data[1] < 209:  # RTCP packet types 192..208 (RFC 5761 section 4)
                    if on_rtcp is None:
                        queue_datagram(data, component)
                    elif (rtcp := context.unprotect_rtcp(data)) is not None:
                        on_rtcp(rtcp)
                # Not authentic, or a replay: dropped, as aiortc's _recv_next does.
                elif (rtp := context.unprotect(data)) is not None:
                    on_rtp(rtp)
            except Exception:
                logger.exception("handling a packet failed")

        def connection_data_received(data: bytes, component: int) -> None:
            if 127 < data[0] < 192:
                data_received(data, component)
            else:
                queue_datagram(data, component)  # DTLS: aiortc's way

        connection.data_received = connection_data_received  # type: ignore[method-assign]
        for protocol in list(connection._protocols):
            if type(protocol) is aioice_ice_module.StunProtocol:
                protocol.datagram_received = _short_cut(protocol, data_received)  # type: ignore[method-assign,assignment]

    def on_state_change(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(state)`` when the DTLS transport changes state ("connected", ...)."""
        transport = self.transport
        transport.on("statechange", lambda: callback(transport.state))

    def send(self, data: bytes, *, rtcp: bool = False) -> bool:
        """Encrypt and send one RTP (or compound RTCP) packet; ``False`` if it could not go."""
        context = self._fast_context()
        if context is None or rtcp:
            return self._send_slow(data, rtcp=rtcp)
        size = len(data)
        if size > _SRTP_BUFFER - _SRTP_TRAILER:
            return False
        view = context._view
        view[:size] = data
        length = context._length
        length[0] = size
        if pylibsrtp_lib.srtp_protect(context._srtp, context._buffer, length) != _SRTP_OK:
            return False
        return self._send_now(view[: length[0]])

    def send_rewritten(self, data: bytes, second: int, sequence: int, timestamp: int, ssrc: int) -> bool:
        """Send ``data`` with another second header byte (marker and payload type), sequence
        number, timestamp and SSRC: the header is written into the SRTP buffer, not copied
        into a new packet first. ``False`` if it could not go."""
        context = self._fast_context()
        if context is None:
            if self.transport._state is not DtlsState.CONNECTED:
                return False
            context = self._tx_context()
            if context is None:
                return False
            protected = context.protect_rewritten(data, second, sequence, timestamp, ssrc)
            return protected is not None and self._write(protected)
        # SrtpContext.protect_rewritten, written out: a Python call costs what the rewrite does.
        size = len(data)
        if size > _SRTP_BUFFER - _SRTP_TRAILER:
            return False
        view = context._view
        view[:size] = data
        _HEADER.pack_into(view, 0, data[0], second, sequence, timestamp, ssrc)
        length = context._length
        length[0] = size
        if pylibsrtp_lib.srtp_protect(context._srtp, context._buffer, length) != _SRTP_OK:
            return False
        return self._send_now(view[: length[0]])

    def _fast_context(self) -> SrtpContext | None:
        """The tx context when the usual case holds (connected, the same keys, the same plain
        UDP pair as the last packet, nothing queued in asyncio's buffer); else ``None``."""
        transport = self.transport
        context = self._tx
        if (
            context is None
            or context.session is not transport._tx_srtp
            or transport._state is not DtlsState.CONNECTED
            or self._sock is None
            or self._nominated.get(1) is not self._pair
            or self._udp._buffer
        ):
            return None
        return context

    def _send_now(self, protected: memoryview) -> bool:
        try:
            self._sock.sendto(protected, self._addr)
        except (BlockingIOError, InterruptedError):
            self._udp.sendto(protected.tobytes(), self._addr)  # asyncio queues it
        except OSError:
            return False  # as asyncio would hand it to error_received: this packet is lost
        return True

    def _send_slow(self, data: bytes, *, rtcp: bool) -> bool:
        if self.transport._state is not DtlsState.CONNECTED:
            return False
        context = self._tx_context()
        if context is None:
            return False
        protected = context.protect_rtcp(data) if rtcp else context.protect(data)
        return protected is not None and self._write(protected)

    def _write(self, protected: memoryview) -> bool:
        pair = self._nominated.get(1)
        if pair is None:
            return False
        if pair is not self._pair and not self._use_pair(pair):
            return False
        udp = self._udp
        if udp is None:  # not a plain UDP pair: aioice's way (a task per packet)
            task = get_running_loop().create_task(pair.protocol.send_data(protected.tobytes(), self._addr))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return True
        sock = self._sock
        if sock is None:
            # A relayed candidate: aioice wraps the data for the TURN server (in a task).
            udp.sendto(protected.tobytes(), self._addr)
            return True
        if udp._buffer:
            if udp.get_write_buffer_size() > _MAX_WRITE_BUFFER:
                # A receiver that does not keep up: drop (and let NACK or a keyframe repair
                # it) rather than queue seconds of media in asyncio's datagram buffer.
                return False
            udp.sendto(protected.tobytes(), self._addr)  # behind what waits: asyncio queues it
            return True
        try:
            sock.sendto(protected, self._addr)
        except (BlockingIOError, InterruptedError):
            udp.sendto(protected.tobytes(), self._addr)  # asyncio queues it and waits to write
        except OSError:
            return False  # as asyncio would hand it to error_received: this packet is lost
        return True

    def _use_pair(self, pair: Any) -> bool:
        self._pair, self._udp, self._sock, self._addr = pair, None, None, pair.remote_addr
        protocol = pair.protocol
        if type(protocol) is not aioice_ice_module.StunProtocol:
            return True
        # aioice types it a DatagramTransport; a relayed candidate's is a TurnTransport.
        udp: Any = protocol.transport
        if udp is None:
            self._pair = None
            return False
        self._udp = udp
        if type(udp) is not aioice_turn_module.TurnTransport:
            self._sock = udp._sock
        return True


def ice_connection_lost(transport: RTCDtlsTransport) -> bool:
    """Whether the ICE connection under ``transport`` is gone (closed here, or its consent
    expired, RFC 7675 section 5.1), as opposed to a party that closed DTLS (close_notify).

    aiortc reports both as a closed DTLS transport, and its ICE transport's own "failed" comes
    too late when the peer connection closes first. Relies on aioice's ``Connection._closing``
    (set first thing in ``close()``) and ``Connection._nominated`` (cleared there).
    """
    connection = transport.transport._connection
    return bool(getattr(connection, "_closing", False)) or not connection._nominated


def _short_cut(
    protocol: aioice_ice_module.StunProtocol, data_received: Callable[[bytes, int], None]
) -> Callable[[bytes | str, tuple[Any, ...]], None]:
    """``protocol.datagram_received`` handing RTP and RTCP (first byte 128..191, RFC 7983
    section 7) straight to ``data_received``; STUN and DTLS take aioice's way."""
    stun_way = protocol.datagram_received

    def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
        if data and 127 < data[0] < 192:  # type: ignore[operator]
            data_received(cast(bytes, data), 1)
        else:
            stun_way(data, addr)

    return datagram_received


async def _not_started(*args: Any, **kwargs: Any) -> None:
    """Stands in for ``RTCRtpSender.send`` / ``RTCRtpReceiver.receive`` (see below)."""


async def _stop_not_started() -> None:
    """Stands in for ``RTCRtpSender.stop`` / ``RTCRtpReceiver.stop`` of a bypassed one.

    aiortc's own ``stop()`` of a started sender awaits its tasks, and ``RTCPeerConnection.close``
    runs it before it stops the ICE transports: events already due (the ICE transport's
    monitor learning that its connection closed, which makes it "failed") are handled first.
    Yielding once here keeps that order.
    """
    await sleep(0)


def bypass_rtp_stack(transceiver: RTCRtpTransceiver) -> None:
    """Keep aiortc's sender and receiver of ``transceiver`` from ever starting.

    ``RTCPeerConnection.__connect`` calls ``sender.send(parameters)`` and
    ``receiver.receive(parameters)`` once DTLS is up; they register with the transport's RTP
    router and start the RTP and RTCP loops (and the receiver's decoder thread). We replace
    both on these instances (and their ``stop()``, which has nothing to stop): packets are
    handled by :class:`SrtpEndpoint`, and aiortc's sender would send sender reports of its own
    for the SSRC we forward on.
    """
    for obj, name in ((transceiver.sender, "send"), (transceiver.receiver, "receive")):
        if not getattr(obj, _BYPASSED, False):
            setattr(obj, name, _not_started)
            obj.stop = _stop_not_started  # type: ignore[method-assign]
            setattr(obj, _BYPASSED, True)


def is_bypassed(transceiver: RTCRtpTransceiver) -> bool:
    sender, receiver = transceiver.sender, transceiver.receiver
    return bool(getattr(sender, _BYPASSED, False) and getattr(receiver, _BYPASSED, False))


def dtls_transport(transceiver: RTCRtpTransceiver) -> RTCDtlsTransport:
    return transceiver.receiver.transport


def _codec(parameters: RTCRtpCodecParameters) -> Codec:
    apt = parameters.parameters.get("apt") if is_rtx(parameters) else None
    mode = parameters.parameters.get("packetization-mode")
    feedback = frozenset(
        f"{fb.type} {fb.parameter}" if fb.parameter else fb.type for fb in parameters.rtcpFeedback
    )
    return Codec(
        payload_type=cast(int, parameters.payloadType),
        mime_type=parameters.mimeType,
        clock_rate=parameters.clockRate,
        rtx_for=int(apt) if apt is not None else None,
        feedback=feedback,
        packetization_mode=None if mode is None else str(mode),
    )


def stream_parameters(pc: aiortc.RTCPeerConnection, transceiver: RTCRtpTransceiver) -> StreamParameters:
    """What ``transceiver`` negotiated, once the answer is set.

    Relies on ``RTCRtpTransceiver._codecs`` and ``._headerExtensions`` (set by
    ``setRemoteDescription``, what ``__localRtp``/``__remoteRtp`` hand to the sender and
    receiver), and on ``RTCRtpSender._ssrc``/``._rtx_ssrc`` (the SSRCs our answer announces).
    The party's SSRCs are read from its offer's ``a=ssrc`` lines for this MID.
    """
    remote: set[int] = set()
    description = pc.remoteDescription
    if description is not None:
        for media in aiortc_sdp.SessionDescription.parse(description.sdp).media:
            if media.rtp.muxId == transceiver.mid:
                remote = {s.ssrc for s in media.ssrc}
    sender = transceiver.sender
    return StreamParameters(
        kind=transceiver.kind,
        codecs=tuple(_codec(c) for c in transceiver._codecs),
        extensions={e.id: e.uri for e in transceiver._headerExtensions},
        mid=transceiver.mid,
        local_ssrc=sender._ssrc,
        local_rtx_ssrc=sender._rtx_ssrc,
        remote_ssrcs=frozenset(remote),
    )


# --- (b) frames for recording ----------------------------------------------------------------


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
    seconds of video). Once the packets behind a gap span more than ``max_wait_s`` (time for
    NACK and a retransmission, RFC 4588), we give up on the gap with aiortc's
    ``smart_remove`` (which drops the frame it cuts) and go on; the next frame is then
    reported after a sequence gap, so the recorder waits for a keyframe.
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


class FrameAssembler:
    """Encoded frames from one party's RTP packets of one kind, for a recorder, in codecs
    that :class:`~media.depacketizer.Depacketizer` does not do itself (H.264).

    Each packet (already decrypted, RTX already unwrapped) is parsed by aiortc, its payload
    depacketized by aiortc's ``depayload`` into ``RtpPacket._data`` (what aiortc's receiver
    does before its jitter buffer), and put in a :class:`_SequencedJitterBuffer`; each frame
    it completes goes to ``callback``. Nothing is decoded. Off the forwarding path: only a
    recorded party's packets come here.
    """

    def __init__(self, kind: str, codec: Codec, callback: Callable[[AssembledFrame], None]) -> None:
        is_video = kind == "video"
        self._codec = RTCRtpCodecParameters(
            mimeType=codec.mime_type, clockRate=codec.clock_rate, payloadType=codec.payload_type
        )
        self._payload_type = codec.payload_type
        self._callback = callback
        self._buffer = _SequencedJitterBuffer(
            128 if is_video else 16,
            is_video=is_video,
            max_wait_s=_VIDEO_MAX_WAIT_S if is_video else _AUDIO_MAX_WAIT_S,
            clock_rate=codec.clock_rate,
        )

    def feed(self, data: bytes, fields: RtpFields | None = None) -> None:
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            return
        if packet.payload_type != self._payload_type:
            return
        try:
            packet._data = depayload(self._codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
        except Exception:  # a depayloader refusing a damaged payload drops that packet only
            return
        _, frame = self._buffer.add(packet)
        if isinstance(frame, _SequencedJitterFrame):
            self._callback(
                AssembledFrame(
                    mime_type=self._codec.mimeType,
                    clock_rate=self._codec.clockRate,
                    data=frame.data,
                    timestamp=frame.timestamp,
                    first_sequence=frame.first_sequence,
                    last_sequence=frame.last_sequence,
                    ssrc=frame.ssrc,
                )
            )


# --- (c) the synthetic peer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendParameters:
    """What a sender was negotiated to send with: its SSRCs (those the offer announced), the
    primary codec and its RTX payload type (``None``: no RTX), and its RTCP CNAME."""

    ssrc: int
    rtx_ssrc: int
    codec: Codec
    rtx_payload_type: int | None
    cname: str


def take_over_sender(
    sender: RTCRtpSender,
    *,
    start: Callable[[SendParameters, SrtpEndpoint], None],
    stop: Callable[[], None],
    on_rtcp: PacketCallback,
) -> None:
    """Send in place of aiortc's ``sender`` (which then never packetizes or sends anything).

    ``RTCPeerConnection.__connect`` awaits ``sender.send(parameters)`` once DTLS is up (and
    ``RTCPeerConnection.close`` awaits ``sender.stop()``); we replace both on this one
    instance: ``start`` gets what was negotiated and an :class:`SrtpEndpoint` to send on,
    ``stop`` is called once. The sender is still registered with the transport's RTP router
    (``RTCDtlsTransport._register_rtp_sender``), so the RTCP that aiortc routes to it by our
    SSRC (receiver reports, NACK, PLI, FIR, REMB: ``RtpRouter.route_rtcp``) reaches
    ``_handle_rtcp_packet``, which we replace to hand ``on_rtcp`` the packet as bytes.
    """
    started = False

    async def send(parameters: RTCRtpSendParameters) -> None:
        nonlocal started
        if started:  # a renegotiation: aiortc's own send() ignores it too
            return
        started = True
        transport = sender.transport
        transport._register_rtp_sender(sender, parameters)
        primary = parameters.codecs[0]
        rtx = next(
            (
                c.payloadType
                for c in parameters.codecs
                if is_rtx(c) and c.parameters.get("apt") == primary.payloadType
            ),
            None,
        )
        negotiated = SendParameters(
            ssrc=sender._ssrc,
            rtx_ssrc=sender._rtx_ssrc,
            codec=_codec(primary),
            rtx_payload_type=rtx,
            cname=parameters.rtcp.cname or "",
        )
        start(negotiated, SrtpEndpoint(transport))

    async def stop_sending() -> None:
        nonlocal started
        if started:
            started = False
            sender.transport._unregister_rtp_sender(sender)
            stop()
        await sleep(0)  # as aiortc's stop() yields (see _stop_not_started)

    async def handle_rtcp_packet(packet: Any) -> None:
        try:
            on_rtcp(bytes(packet))
        except Exception:
            # Raised here it would end aiortc's receive loop, and with it the connection.
            logger.exception("RTCP consumer failed")

    sender.send = send  # type: ignore[method-assign]
    sender.stop = stop_sending  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


async def send_picture_loss_indication(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the remote sender of ``media_ssrc`` for a keyframe (RFC 4585 section 6.3.1).

    Relies on ``RTCRtpReceiver._send_rtcp_pli``, which aiortc itself calls when its jitter
    buffer drops packets or its decoder fails; aiortc has no public keyframe request.
    """
    await receiver._send_rtcp_pli(media_ssrc)


async def send_rtcp(transceiver: RTCRtpTransceiver, data: bytes) -> None:
    """Send a compound RTCP packet as it is over the transceiver's transport (what a browser's
    NACK or REMB would be, for tests). Relies on ``RTCDtlsTransport._send_rtp``, which
    protects RTCP with ``protect_rtcp``."""
    await transceiver.receiver.transport._send_rtp(data)


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
    codecs = cast(dict[int, RTCRtpCodecParameters], getattr(receiver, _RECEIVER_CODECS))

    async def _handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        try:
            callback(packet, codec)
        except Exception:
            # A consumer's bug must not end the connection's RTP handling.
            logger.exception("RTP consumer failed")

    receiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]


# --- the check --------------------------------------------------------------------------------


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

    # (a) the DTLS transport: decrypted packets in, encrypted packets out.
    recv_next = _source(getattr(RTCDtlsTransport, "_recv_next", None))
    expect(
        "data = self._rx_srtp.unprotect(data)" in recv_next
        and "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)" in recv_next,
        "RTCDtlsTransport._recv_next awaiting self._handle_rtp_data(data, arrival_time_ms=...) "
        "with the packet its rx SRTP session decrypted",
    )
    expect(
        "data = self._rx_srtp.unprotect_rtcp(data)" in recv_next
        and "await self._handle_rtcp_data(data)" in recv_next,
        "RTCDtlsTransport._recv_next awaiting self._handle_rtcp_data(data) with decrypted RTCP",
    )
    send_rtp = _source(getattr(RTCDtlsTransport, "_send_rtp", None))
    expect(
        "self._tx_srtp.protect(data)" in send_rtp and "self._tx_srtp.protect_rtcp(data)" in send_rtp,
        "RTCDtlsTransport._send_rtp protecting with self._tx_srtp.protect/protect_rtcp",
    )
    expect(
        "self._state = state" in _source(getattr(RTCDtlsTransport, "_set_state", None))
        and hasattr(DtlsState, "CONNECTED"),
        "RTCDtlsTransport._state (a State, CONNECTED once SRTP keys exist)",
    )
    expect(
        "self._connection = Connection(" in _source(aiortc_rtcicetransport.RTCIceGatherer.__init__),
        "RTCIceGatherer._connection (the aioice Connection)",
    )
    expect(
        "active_pair = self._nominated.get(component)" in _source(aioice_ice_module.Connection.sendto),
        "aioice Connection.sendto sending on self._nominated[component]",
    )
    close = _source(aioice_ice_module.Connection.close)
    expect(
        "self._closing = True" in close and "self._nominated.clear()" in close,
        "aioice Connection.close setting self._closing and clearing self._nominated",
    )
    expect(
        "self.receiver.data_received(data, self.local_candidate.component)"
        in _source(aioice_ice_module.StunProtocol.datagram_received)
        and "self._queue.put_nowait((data, component))"
        in _source(aioice_ice_module.Connection.data_received),
        "aioice StunProtocol.datagram_received passing non-STUN data to Connection.data_received "
        "(which queues it)",
    )
    expect(
        "self._connection.recv" in _source(aiortc_rtcicetransport.RTCIceTransport.__init__)
        and "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:" in recv_next,
        "RTCIceTransport._recv reading the aioice Connection's queue; "
        "_recv_next decrypting 128..191 with _rx_srtp",
    )
    expect(
        callable(getattr(aioice_turn_module.TurnTransport, "sendto", None)),
        "aioice.turn.TurnTransport.sendto (a relayed candidate's transport)",
    )
    expect(
        "self.transport.sendto(data, addr)" in _source(aioice_ice_module.StunProtocol.send_data),
        "aioice StunProtocol.send_data writing self.transport.sendto(data, addr)",
    )
    connect = _source(getattr(aiortc.RTCPeerConnection, "_RTCPeerConnection__connect", None))
    expect(
        "await transceiver.sender.send(" in connect and "await transceiver.receiver.receive(" in connect,
        "RTCPeerConnection.__connect starting transceiver.sender.send() and transceiver.receiver.receive()",
    )
    expect(
        "self.__started" in _source(RTCRtpSender.stop) and "self.__started" in _source(RTCRtpReceiver.stop),
        "RTCRtpSender.stop/RTCRtpReceiver.stop doing nothing unless started",
    )
    sender_init = _source(RTCRtpSender.__init__)
    expect(
        "self._ssrc = " in sender_init and "self._rtx_ssrc = " in sender_init,
        "RTCRtpSender._ssrc and ._rtx_ssrc",
    )
    transceiver_init = _source(RTCRtpTransceiver.__init__)
    expect(
        "self._codecs" in transceiver_init and "self._headerExtensions" in transceiver_init,
        "RTCRtpTransceiver._codecs and ._headerExtensions",
    )
    local_rtp = getattr(aiortc.RTCPeerConnection, "_RTCPeerConnection__localRtp", None)
    expect(
        "transceiver._codecs" in _source(local_rtp),
        "RTCPeerConnection.__localRtp sending transceiver._codecs",
    )
    # (a) SRTP through pylibsrtp's binding (SrtpContext) and sends on asyncio's socket.
    session = pylibsrtp.Session()
    expect(
        pylibsrtp_ffi.typeof(getattr(session, "_srtp", None)).cname == "struct srtp_ctx_t_ * *",
        "pylibsrtp.Session._srtp (an srtp_t *, from srtp_create)",
    )
    expect(
        all(
            callable(getattr(pylibsrtp_lib, name, None))
            for name in ("srtp_protect", "srtp_unprotect", "srtp_protect_rtcp", "srtp_unprotect_rtcp")
        )
        and getattr(pylibsrtp_lib, "srtp_err_status_ok", None) == 0,
        "pylibsrtp._binding.lib.srtp_protect/unprotect(_rtcp)(srtp_t, void *, int *) and srtp_err_status_ok",
    )
    datagram_transport: Any = getattr(asyncio_selector_events, "_SelectorDatagramTransport", None)
    datagram_sendto = _source(getattr(datagram_transport, "sendto", None))
    expect(
        "if not self._buffer:" in datagram_sendto and "self._sock.sendto(data, addr)" in datagram_sendto,
        "asyncio _SelectorDatagramTransport.sendto writing self._sock.sendto(data, addr) "
        "while self._buffer is empty",
    )
    # (b) frames for recording: aiortc's jitter buffer fed with depayloaded packets.
    expect(
        "packet._data = depayload(codec, packet.payload)" in _source(RTCRtpReceiver._handle_rtp_packet),
        "RTCRtpReceiver._handle_rtp_packet setting packet._data = depayload(codec, packet.payload)",
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
    # (c) the synthetic peer: aiortc's sender replaced, its receiver hooked.
    expect(
        "self.__transport._register_rtp_sender(self, parameters)"
        in _source(getattr(RTCRtpSender, "send", None))
        and inspect.iscoroutinefunction(getattr(RTCRtpSender, "stop", None)),
        "RTCRtpSender.send registering with self.__transport._register_rtp_sender(self, parameters); "
        "RTCRtpSender.stop (async)",
    )
    expect(
        callable(getattr(RTCDtlsTransport, "_register_rtp_sender", None))
        and callable(getattr(RTCDtlsTransport, "_unregister_rtp_sender", None)),
        "RTCDtlsTransport._register_rtp_sender/_unregister_rtp_sender",
    )
    expect(
        "await recipient._handle_rtcp_packet(packet)"
        in _source(getattr(RTCDtlsTransport, "_handle_rtcp_data", None))
        and "self.senders.get(packet.media_ssrc)" in _source(getattr(RtpRouter, "route_rtcp", None)),
        "RTCDtlsTransport._handle_rtcp_data awaiting recipient._handle_rtcp_packet(packet), "
        "feedback routed to RtpRouter.senders by media SSRC",
    )
    expect(
        {"codecs", "rtcp"} <= set(getattr(RTCRtpSendParameters, "__dataclass_fields__", {})),
        "RTCRtpSendParameters.codecs and .rtcp (cname)",
    )
    expect(
        inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)),
        "RTCRtpReceiver._send_rtcp_pli (async)",
    )
    receiver = RTCRtpReceiver("video", cast(RTCDtlsTransport, _StubTransport()))
    expect(
        isinstance(getattr(receiver, _RECEIVER_CODECS, None), dict),
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
    expect(
        inspect.iscoroutinefunction(getattr(RTCDtlsTransport, "_send_rtp", None)),
        "RTCDtlsTransport._send_rtp (async)",
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
