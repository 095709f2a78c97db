"""(c) The synthetic peer (tests and benchmarks): its pre-built packets sent in place of
aiortc's senders (:func:`take_over_sender`), its receivers' packets handed to a counter
(:func:`divert_rtp`), and RTCP sent the way aiortc sends it.
"""

from __future__ import annotations

import logging
from asyncio import sleep
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import RtpPacket

from media._aiortc_hooks.rtp_stack import _codec
from media._aiortc_hooks.srtp import PacketCallback, SrtpEndpoint
from media.rtp_params import Codec

logger = logging.getLogger(__name__)

# Name-mangled attribute of RTCRtpReceiver: payload type to codec.
_RECEIVER_CODECS = "_RTCRtpReceiver__codecs"


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
