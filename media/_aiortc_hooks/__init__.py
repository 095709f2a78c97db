"""Every use of aiortc private API in Loket, in one package (one module per hooked part).

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

The modules: ``srtp`` (a: SRTP in and out, the socket), ``rtp_stack`` (a: aiortc's sender and
receiver kept from starting, what was negotiated), ``frames`` (b), ``peer`` (c),
``internals`` (the check) and ``ice_ports`` (the media node's UDP port range and public
address, with its own check). Import the names from the package, not from its modules.
"""

from media._aiortc_hooks.frames import FrameAssembler, _SequencedJitterBuffer, _SequencedJitterFrame
from media._aiortc_hooks.ice_ports import bind_ice_candidates, check_ice_ports_internals
from media._aiortc_hooks.internals import VERIFIED_AIORTC_VERSION, _verify, check_aiortc_internals
from media._aiortc_hooks.peer import (
    RtpCallback,
    SendParameters,
    divert_rtp,
    send_picture_loss_indication,
    send_rtcp,
    take_over_sender,
)
from media._aiortc_hooks.rtp_stack import bypass_rtp_stack, dtls_transport, is_bypassed, stream_parameters
from media._aiortc_hooks.srtp import PacketCallback, SrtpContext, SrtpEndpoint, ice_connection_lost

__all__ = [
    "VERIFIED_AIORTC_VERSION",
    "FrameAssembler",
    "PacketCallback",
    "RtpCallback",
    "SendParameters",
    "SrtpContext",
    "SrtpEndpoint",
    "_SequencedJitterBuffer",
    "_SequencedJitterFrame",
    "_verify",
    "bind_ice_candidates",
    "bypass_rtp_stack",
    "check_aiortc_internals",
    "check_ice_ports_internals",
    "divert_rtp",
    "dtls_transport",
    "ice_connection_lost",
    "is_bypassed",
    "send_picture_loss_indication",
    "send_rtcp",
    "stream_parameters",
    "take_over_sender",
]
