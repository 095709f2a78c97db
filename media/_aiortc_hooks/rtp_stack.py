"""(a) aiortc's own RTP stack kept from starting, and what a transceiver negotiated.

:func:`bypass_rtp_stack` keeps aiortc's sender and receiver of a transceiver from starting
(no RTP/RTCP loops, no decoder thread); :func:`stream_parameters` reads what was negotiated
(payload types, header extensions, MID, our SSRCs, the party's SSRCs).
"""

from __future__ import annotations

import logging
from asyncio import sleep
from typing import Any, cast

import aiortc
from aiortc import RTCRtpTransceiver
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.rtp_params import Codec, StreamParameters

logger = logging.getLogger(__name__)

# Set on a sender/receiver whose send()/receive() :func:`bypass_rtp_stack` replaced.
_BYPASSED = "_loket_bypassed"


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
