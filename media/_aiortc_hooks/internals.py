"""The check: every aiortc, aioice, pylibsrtp and asyncio internal the hooks rely on, still
there (:func:`check_aiortc_internals`, cached after the first call).
"""

from __future__ import annotations

import functools
import inspect
import logging
from asyncio import selector_events as asyncio_selector_events
from typing import Any, cast

import aiortc
import pylibsrtp
from aioice import ice as aioice_ice_module
from aioice import turn as aioice_turn_module
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtcicetransport as aiortc_rtcicetransport
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from pylibsrtp._binding import ffi as pylibsrtp_ffi  # type: ignore[import-not-found]
from pylibsrtp._binding import lib as pylibsrtp_lib

from media._aiortc_hooks import peer
from media.errors import AiortcInternalsError

logger = logging.getLogger(__name__)

#: The aiortc release these hooks were written against and verified with.
VERIFIED_AIORTC_VERSION = "1.16.0"


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
        isinstance(getattr(receiver, peer._RECEIVER_CODECS, None), dict),
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
            f"aiortc {aiortc.__version__} lacks internals that media/_aiortc_hooks/ relies on "
            f"(verified with {VERIFIED_AIORTC_VERSION}): " + "; ".join(problems)
        )


def check_aiortc_internals() -> None:
    """Raise :class:`~media.errors.AiortcInternalsError` naming every aiortc internal that changed.

    Cheap after the first call (the result is cached); legs call it before using any hook.
    """
    _verify()
