"""(a) RTP below aiortc: a leg's decrypted packets in, encrypted packets out.

:class:`SrtpEndpoint` takes every SRTP datagram of a leg from its UDP socket, decrypts it
with the DTLS transport's keys (:class:`SrtpContext`: pylibsrtp's C functions, one buffer per
session) and hands it over; it encrypts what the leg sends and writes it to the nominated ICE
pair's socket. :func:`ice_connection_lost` tells a lost ICE connection from a closed one.
"""

from __future__ import annotations

import logging
import struct
from asyncio import get_running_loop
from collections.abc import Callable
from typing import Any, cast

import pylibsrtp
from aioice import ice as aioice_ice_module
from aioice import turn as aioice_turn_module
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from pylibsrtp._binding import ffi as pylibsrtp_ffi  # type: ignore[import-not-found]
from pylibsrtp._binding import lib as pylibsrtp_lib

logger = logging.getLogger(__name__)

# Bytes a leg's UDP transport may hold back (the socket would block) before packets are dropped.
_MAX_WRITE_BUFFER = 64 * 1024

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
    call libsrtp, raise through a helper and copy out on every call (measured here: 3.3 us
    against 2.1 us for a 1,100-byte packet, 1.6 us of which is libsrtp). Here the output
    buffer and the length are allocated once per session and libsrtp's functions are called
    directly through ``pylibsrtp._binding`` with the session's ``srtp_t`` (``Session._srtp[0]``). A failure
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
