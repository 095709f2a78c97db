"""``Leg``: one party's peer connection with the server."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media import _aiortc_hooks as hooks
from media.candidates import address_allowed, filter_sdp_candidates, parse_candidate
from media.config import MediaConfig
from media.errors import LegClosedError, NegotiationError
from media.rtp_inbound import InboundRtp
from media.rtp_outbound import OutboundRtp
from media.rtp_session import LegRtpStatistics, RtpSession

logger = logging.getLogger(__name__)

_KINDS = ("audio", "video")
_MEDIA_LINE = re.compile(r"^m=(\w+) ", re.MULTILINE)
_ICE_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_ICE_PWD = re.compile(r"^a=ice-pwd:(\S+)", re.MULTILINE)
_FINGERPRINT = re.compile(r"^a=fingerprint:(\S+) (\S+)", re.MULTILINE)


def transport_identity(sdp: str) -> tuple[str | None, str | None, str | None]:
    """The ICE credentials and DTLS fingerprint an offer's transport is set up with.

    With BUNDLE (RFC 9143) every m-line shares the first one's transport, so the first
    ``a=ice-ufrag``, ``a=ice-pwd`` and ``a=fingerprint`` name it. New credentials mean an ICE
    restart (RFC 8445 section 9, JSEP RFC 8829 section 5.2.1); a new fingerprint, a new DTLS
    association (RFC 8842 section 5) — in practice a new ``RTCPeerConnection``. Missing
    values are ``None``.
    """
    ufrag, pwd, fingerprint = (_ICE_UFRAG.search(sdp), _ICE_PWD.search(sdp), _FINGERPRINT.search(sdp))
    return (
        ufrag.group(1) if ufrag else None,
        pwd.group(1) if pwd else None,
        f"{fingerprint.group(1).lower()} {fingerprint.group(2).upper()}" if fingerprint else None,
    )


class Leg:
    """One party's ``RTCPeerConnection`` with the server; the party always offers.

    The leg's outgoing audio and video (:attr:`outbound`) are added when it answers, so the
    other party's media flows as soon as it is there, without renegotiation; what the party
    sends arrives as RTP packets in :attr:`inbound`. aiortc negotiates and runs ICE and DTLS;
    its RTP senders and receivers never start: the leg's packets are handled below them by
    an :class:`~media.rtp_session.RtpSession` (:attr:`rtp`). Codecs are forced to the
    configured preference (VP8, then H.264, and Opus; ``prefer_video`` first) so that both
    legs of a call negotiate the same ones. A new
    offer on the same transport (renegotiation) keeps the media going; an offer on another
    transport (:meth:`is_new_transport`) needs a new leg, because aiortc's
    ``RTCIceTransport`` keeps the first remote credentials it was given and cannot restart
    ICE. :meth:`close` is idempotent; ``on_closed`` is called once when the leg closes for any
    reason (closed here, closed by the party, or the connection failed: :attr:`failed`).
    """

    def __init__(
        self,
        *,
        config: MediaConfig,
        label: str = "leg",
        on_closed: Callable[[Leg], None] | None = None,
    ) -> None:
        hooks.check_aiortc_internals()
        self.label = label
        self._config = config
        self._on_closed = on_closed
        self._pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[
                    RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                    for s in config.ice_servers
                ]
            )
        )
        self.rtp = RtpSession(label, pli_min_interval_s=config.pli_min_interval_s)
        self.outbound: dict[str, OutboundRtp] = self.rtp.outbound
        self.inbound: dict[str, InboundRtp] = self.rtp.inbound
        self._endpoint: hooks.SrtpEndpoint | None = None
        self._watched_transports: set[int] = set()
        # Browsers trickle candidates as soon as they have set their offer, so some may
        # arrive before the offer is applied here; they wait for it.
        self._early_candidates: list[RTCIceCandidate | None] = []
        self._lock = asyncio.Lock()
        self._close_task: asyncio.Task[None] | None = None
        self._closed_notified = False
        self._failed = False
        self._remote_transport: tuple[str | None, str | None, str | None] | None = None
        self._pc.on("connectionstatechange", self._on_connection_state_change)

    @property
    def connection_state(self) -> str:
        """The peer connection's state: new, connecting, connected, failed or closed."""
        return self._pc.connectionState

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    @property
    def failed(self) -> bool:
        """Whether the leg closed because its connection failed (ICE or DTLS), not because
        it was closed here or by the party (a DTLS close_notify, RFC 5246 section 7.2.1)."""
        return self._failed

    def is_new_transport(self, offer_sdp: str) -> bool:
        """Whether ``offer_sdp`` sets up another transport than the offer this leg answered:
        other ICE credentials or another DTLS fingerprint (see :func:`transport_identity`).

        ``False`` before the first offer: that one is this leg's own.
        """
        return self._remote_transport is not None and transport_identity(offer_sdp) != self._remote_transport

    async def answer(
        self, offer_sdp: str, offer_type: str = "offer", *, prefer_video: str | None = None
    ) -> tuple[str, str]:
        """Apply the party's offer and return the answer as ``(sdp, type)``.

        ``prefer_video``: a video MIME type to answer with if offered (the other leg's).
        """
        if offer_type != "offer":
            raise NegotiationError(f"the party must send an offer, not {offer_type!r}")
        async with self._lock:
            if self.closed:
                raise LegClosedError("this leg is closed")
            offer = filter_sdp_candidates(offer_sdp, allow_private=self._config.allow_private_candidates)
            if not set(_MEDIA_LINE.findall(offer)) & set(_KINDS):
                raise NegotiationError("the offer has neither audio nor video")
            self._add_outbound_transceivers(offer, prefer_video)
            try:
                await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                self._bypass_aiortc_rtp()
                self._watch_ice_transports()
                hooks.bind_ice_candidates(
                    self._pc, udp_ports=self._config.udp_ports, public_address=self._config.public_address
                )
                early, self._early_candidates = self._early_candidates, []
                for candidate in early:
                    await self._pc.addIceCandidate(candidate)
                await self._pc.setLocalDescription(await self._pc.createAnswer())
                # Inside the try: it reads the parsed offer back, where aiortc finds more faults.
                self._configure_rtp()
            except (
                ValueError,
                AssertionError,
                InternalError,
                InvalidAccessError,
                InvalidStateError,
                OperationError,
                # aiortc's parser also fails on hostile SDP with these (found by bench.fuzz:
                # an unknown a=setup role, a missing field; StopIteration surfaces as RuntimeError).
                LookupError,
                AttributeError,
                RuntimeError,
            ) as exc:
                # aiortc reports unusable SDP (bad syntax, no common codec) this way.
                raise NegotiationError(f"cannot apply the offer: {exc}") from exc
            self._remote_transport = transport_identity(offer)
            local = self._pc.localDescription
            return local.sdp, local.type

    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None = None, sdp_mline_index: int | None = None
    ) -> bool:
        """Add a trickled remote candidate (``None`` or ``""``: end of candidates).

        Returns ``False`` when the candidate was ignored (its address is not allowed).
        """
        parsed: RTCIceCandidate | None = None
        if candidate:
            try:
                parsed = parse_candidate(candidate)
            except (ValueError, AssertionError) as exc:
                raise NegotiationError("malformed ICE candidate") from exc
            if not address_allowed(parsed.ip, allow_private=self._config.allow_private_candidates):
                return False
            parsed.sdpMid = sdp_mid
            parsed.sdpMLineIndex = sdp_mline_index
            if sdp_mid is None and sdp_mline_index is None:
                parsed.sdpMLineIndex = 0  # bundled: every m-line shares the first transport
        async with self._lock:  # an offer being applied comes first
            if self.closed:
                raise LegClosedError("this leg is closed")
            if self._pc.remoteDescription is None:
                self._early_candidates.append(parsed)
                return True
            try:
                await self._pc.addIceCandidate(parsed)
            except ValueError as exc:
                raise NegotiationError(f"cannot add the ICE candidate: {exc}") from exc
        return True

    async def close(self) -> None:
        """Close the peer connection and stop the tracks. Idempotent."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        try:
            await self._pc.close()
            await self.rtp.close()
        finally:
            self._notify_closed()

    def _notify_closed(self) -> None:
        if self._closed_notified:
            return
        self._closed_notified = True
        if self._on_closed is not None:
            try:
                self._on_closed(self)
            except Exception:
                logger.exception("leg %s: on_closed handler failed", self.label)

    def _on_connection_state_change(self) -> None:
        state = self._pc.connectionState
        logger.debug("leg %s: connection %s", self.label, state)
        if state in ("failed", "closed") and self._close_task is None:
            # The party went away or the connection failed: close (and tell the owner).
            self._failed = self._failed or state == "failed"
            self._close_task = asyncio.get_running_loop().create_task(self._close())

    def _watch_ice_transports(self) -> None:
        # aiortc reports a lost ICE connection (consent expired, RFC 7675 section 5.1) as
        # connectionState "closed", like a DTLS close_notify from a party that left: its DTLS
        # transport sees the end of the stream first and closes the peer connection. Only the
        # ICE transport's own state tells them apart: "failed" when its connection ended by
        # itself, never when the party said goodbye.
        for transceiver in self._pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            if id(ice) not in self._watched_transports:
                self._watched_transports.add(id(ice))
                ice.on("statechange", lambda ice=ice: self._on_ice_state_change(ice.state))

    def _on_dtls_state_change(self, state: str) -> None:
        # DTLS ends for a party's goodbye (close_notify) and for a lost network alike; only
        # the ICE connection under it tells them apart, and must be read right now.
        # (Not when we close the leg ourselves: that stops ICE too.)
        endpoint = self._endpoint
        if state == "closed" and self._close_task is None and endpoint is not None:
            self._failed = self._failed or hooks.ice_connection_lost(endpoint.transport)

    def _on_ice_state_change(self, state: str) -> None:
        if state == "failed":
            self._failed = True

    def _add_outbound_transceivers(self, offer: str, prefer_video: str | None) -> None:
        # Create our sendrecv transceivers before applying the offer, so that
        # setRemoteDescription pairs them with the offer's m-lines (JSEP, RFC 8829 section
        # 5.10) and our codec preferences apply to the negotiation. Only kinds the offer
        # has: aiortc fails on transceivers left without an m-line.
        offered = set(_MEDIA_LINE.findall(offer))
        have = {t.kind for t in self._pc.getTransceivers()}
        for kind in _KINDS:
            if kind in offered and kind not in have:
                transceiver = self._pc.addTransceiver(kind, direction="sendrecv")
                transceiver.setCodecPreferences(self._codec_preferences(kind, prefer_video))

    def _codec_preferences(self, kind: str, prefer_video: str | None) -> list[RTCRtpCodecCapability]:
        capabilities = RTCRtpSender.getCapabilities(kind).codecs
        mimes = list(self._config.codec_preferences)
        if kind == "video" and prefer_video is not None:
            mimes = [prefer_video] + [m for m in mimes if m.lower() != prefer_video.lower()]
        preferred: list[RTCRtpCodecCapability] = []
        for mime in mimes:
            preferred += [c for c in capabilities if c.mimeType.lower() == mime.lower()]
        if kind == "video":
            # Keep retransmissions (RFC 4588): forwarded video is as loss-prone as any.
            preferred += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
        return preferred

    def _bypass_aiortc_rtp(self) -> None:
        # Before the connection starts them: aiortc's senders and receivers never run.
        for transceiver in self._pc.getTransceivers():
            hooks.bypass_rtp_stack(transceiver)

    def _configure_rtp(self) -> None:
        configured: set[str] = set()
        for transceiver in self._pc.getTransceivers():
            kind = transceiver.kind
            if kind not in self.inbound or kind in configured or transceiver.mid is None:
                continue  # a second m-line of a kind is not forwarded
            configured.add(kind)
            self.rtp.configure(hooks.stream_parameters(self._pc, transceiver))
            if self._endpoint is None:
                self._endpoint = endpoint = hooks.SrtpEndpoint(hooks.dtls_transport(transceiver))
                endpoint.on_state_change(self._on_dtls_state_change)
                self.rtp.attach(endpoint)

    def rtp_statistics(self) -> LegRtpStatistics:
        """This leg's packets received and lost both ways, and its round-trip time (metrics read
        this: aiortc's ``getStats()`` knows nothing of packets that bypass its RTP stack)."""
        return self.rtp.statistics()

    def negotiated_video(self) -> str | None:
        """The video MIME type this leg was answered with (``None`` before, or without video)."""
        codec = self.outbound["video"].codec
        return codec.mime_type if codec is not None else None
