"""The one synthetic peer of tests and benchmarks: a browser stand-in that costs little.

A :class:`SyntheticPeer` is an aiortc ``RTCPeerConnection`` that offers, as a browser does to
Loket, and then:

- **sends** the pre-encoded loop of ``media.synthetic`` (VP8 640x480 at 20 fps, Opus): one
  encoding and one packetization per process, shared by every peer. aiortc's senders only
  negotiate: once DTLS is up a :class:`~media.synthetic_rtp.LoopedRtpSender` per kind writes
  each packet's header, SRTP-protects it with the keys aiortc negotiated and sends it on the
  ICE pair, paced at the loop's rate. A keyframe request (PLI/FIR) makes the loop start
  again at its keyframe, NACKs are answered on the RTX stream, and sender reports go out
  about once a second. Each video frame carries its number in a trailer.
- **receives** nothing in aiortc's sense: every RTP packet is decrypted as it leaves the
  socket and goes to an :class:`RtpCounter` (as the relay's packets do, ``SrtpEndpoint``),
  never to aiortc's parser, jitter buffer or decoder; RTCP still takes aiortc's way, which
  routes feedback to our senders by SSRC. The counter counts packets and sequence gaps (loss,
  RFC 3550 appendix A.3) and whole video frames (RFC 7741: the packets from one that starts
  the frame to the one with the marker bit, none missing), and reads the frame numbers of
  another synthetic peer's video from the trailers.

So a peer costs about what its packets cost. What it gives up: it sends no NACK, PLI or REMB,
so a lost packet stays lost and counts as loss, as the load tool wants.

The aiortc internals used are all in ``media._aiortc_hooks``: ``take_over_sender`` (our
senders in place of aiortc's), ``SrtpEndpoint`` and ``stream_parameters`` (the packets reach
the counter), and ``divert_rtp`` (the same, through aiortc's receive path, for a peer whose
descriptions a test applied itself).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, Self

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media._aiortc_hooks import (
    SendParameters,
    SrtpEndpoint,
    check_aiortc_internals,
    divert_rtp,
    dtls_transport,
    stream_parameters,
    take_over_sender,
)
from media.rtp_header import MalformedPacket, RtpFields, parse_rtp
from media.rtp_payload import vp8_descriptor_length
from media.synthetic import (
    FRAME_TRAILER_SIZE,
    EncodedLoop,
    LoopedAudioTrack,
    LoopedVideoTrack,
    encoded_loop,
    read_frame_trailer,
)
from media.synthetic_rtp import LoopedRtpSender

#: What the peer offers: the codecs of the loop (and RTX, as browsers offer it).
_OFFERED = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}

Answerer = Callable[[str, str], Awaitable[tuple[str, str]]]


class ReceivedMedia(Protocol):
    """What a test reads from what a peer received, counted by an :class:`RtpCounter` (or by
    ``media.synthetic.FrameCounter``, which decodes)."""

    frames: int
    first_frame_at: float | None
    numbers: list[int]
    arrivals: list[float]

    async def wait_first_frame(self, timeout: float) -> float: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RtpTally:
    """A counter's totals at one moment; subtract two for a window."""

    frames: int
    packets: int
    expected: int
    lost: int

    def __sub__(self, other: RtpTally) -> RtpTally:
        return RtpTally(
            self.frames - other.frames,
            self.packets - other.packets,
            self.expected - other.expected,
            self.lost - other.lost,
        )


class _PendingFrame:
    """The packets of one video frame seen so far (by extended sequence number)."""

    __slots__ = ("end", "index", "keyframe", "sequences", "start", "tails")

    def __init__(self, index: int) -> None:
        self.index = index
        self.start: int | None = None
        self.end: int | None = None
        self.keyframe = False
        self.sequences: set[int] = set()
        self.tails: dict[int, bytes] = {}

    def whole(self) -> bool:
        return (
            self.start is not None
            and self.end is not None
            and len(self.sequences) == self.end - self.start + 1
        )


class RtpCounter:
    """What arrived on one receiver, counted per RTP packet; nothing is decoded.

    ``frames`` counts whole frames: for audio every packet (one Opus frame each); for video
    the packets of one RTP timestamp from the one that starts the frame to the one with the
    marker bit, none missing, in whatever order they came (a retransmitted packet that fills
    a gap completes its frame). A frame still missing packets once ``reorder_frames`` newer
    frames have begun is damaged (``damaged_frames``). ``keyframes`` counts the whole frames
    that are keyframes (RFC 6386 section 9.1). ``numbers`` holds the numbers of whole video
    frames that carry a trailer, ``number_arrivals`` when each was counted, ``arrivals`` when
    each frame was counted. ``lost`` is expected minus received packets (RFC 3550 appendix
    A.3), summed over the streams (SSRCs) seen; RTX packets are not counted (this peer never
    asks for them).
    """

    def __init__(
        self, kind: str, *, clock: Callable[[], float] = time.monotonic, reorder_frames: int = 4
    ) -> None:
        self.kind = kind
        self.frames = 0
        self.damaged_frames = 0
        self.keyframes = 0
        self.packets = 0
        self.streams = 0  # SSRCs seen one after the other
        self.first_frame_at: float | None = None
        self.numbers: list[int] = []
        self.number_arrivals: dict[int, float] = {}
        self.arrivals: list[float] = []
        self._clock = clock
        self._reorder_frames = reorder_frames
        self._first = asyncio.Event()
        self._ssrc: int | None = None
        self._base = self._highest = 0  # extended sequence numbers of the current stream
        self._stream_packets = 0
        self._closed_expected = self._closed_lost = 0  # of the streams before
        self._pending: dict[int, _PendingFrame] = {}  # by RTP timestamp, oldest first
        self._frames_begun = 0

    @property
    def expected(self) -> int:
        current = self._highest - self._base + 1 if self._ssrc is not None else 0
        return self._closed_expected + current

    @property
    def lost(self) -> int:
        current = self._highest - self._base + 1 - self._stream_packets if self._ssrc is not None else 0
        return self._closed_lost + max(0, current)

    def tally(self) -> RtpTally:
        return RtpTally(self.frames, self.packets, self.expected, self.lost)

    def add(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        """Count one packet parsed by aiortc (RTX is not counted)."""
        if not codec.mimeType.lower().endswith("/rtx"):
            payload = packet.payload
            self._count(
                packet.ssrc, packet.sequence_number, packet.timestamp, packet.marker, payload, 0, len(payload)
            )

    def add_bytes(self, data: bytes, fields: RtpFields) -> None:
        """Count one packet as bytes (not RTX: the caller routed it by payload type)."""
        self._count(
            fields.ssrc,
            fields.sequence,
            fields.timestamp,
            fields.marker,
            data,
            fields.ext_end,
            fields.payload_end,
        )

    def _count(
        self, ssrc: int, sequence: int, timestamp: int, marker: bool | int, data: bytes, start: int, end: int
    ) -> None:
        """Count the packet whose payload is ``data[start:end]`` (not copied: only the VP8
        descriptor, frame tag and trailer bytes are read)."""
        sequence = self._sequence(ssrc, sequence)
        self.packets += 1
        if self.kind != "video":
            self._frame(None)
            return
        frame = self._pending.get(timestamp)
        if frame is None:
            self._frames_begun += 1
            frame = self._pending[timestamp] = _PendingFrame(self._frames_begun)
            self._forget_old_frames()
        if sequence in frame.sequences:
            return
        frame.sequences.add(sequence)
        if start < end:
            body = start + vp8_descriptor_length(data[start : start + 6])
            # S set and partition index 0: the first packet of a frame (RFC 7741 section 4.2).
            if data[start] & 0x17 == 0x10:
                frame.start = sequence
                frame.keyframe = body < end and not data[body] & 0x01  # RFC 6386 section 9.1
            frame.tails[sequence] = data[max(body, end - FRAME_TRAILER_SIZE) : end]
        else:
            frame.tails[sequence] = b""
        if marker:
            frame.end = sequence
        if frame.whole():
            del self._pending[timestamp]
            assert frame.end is not None
            tail = frame.tails[frame.end]
            if len(tail) < FRAME_TRAILER_SIZE:  # the trailer began in the packet before
                tail = frame.tails.get(frame.end - 1, b"") + tail
            self._frame(read_frame_trailer(tail[-FRAME_TRAILER_SIZE:]))
            self.keyframes += frame.keyframe

    def _forget_old_frames(self) -> None:
        oldest = self._frames_begun - self._reorder_frames
        for timestamp, frame in list(self._pending.items()):
            if frame.index > oldest:
                break
            del self._pending[timestamp]
            self.damaged_frames += 1

    async def wait_first_frame(self, timeout: float) -> float:
        """Wait for the first whole frame; returns when it arrived (``time.monotonic()``)."""
        try:
            async with asyncio.timeout(timeout):
                await self._first.wait()
        except TimeoutError:
            raise TimeoutError(f"no {self.kind} frame within {timeout} s") from None
        assert self.first_frame_at is not None
        return self.first_frame_at

    async def stop(self) -> None:
        """Nothing to stop (``ReceivedMedia``): the counter runs inside aiortc's RTP handling."""

    def _frame(self, number: int | None) -> None:
        now = self._clock()
        if self.first_frame_at is None:
            self.first_frame_at = now
            self._first.set()
        self.frames += 1
        self.arrivals.append(now)
        if number is not None:
            self.numbers.append(number)
            self.number_arrivals.setdefault(number, now)

    def _sequence(self, ssrc: int, sequence: int) -> int:
        """Track the sequence; the packet's extended sequence number (RFC 3550 appendix A.1)."""
        if ssrc != self._ssrc:
            # A new stream (the first, or the sender was replaced): its own count.
            self._closed_expected, self._closed_lost = self.expected, self.lost
            self._ssrc, self._base, self._highest, self._stream_packets = ssrc, sequence, sequence, 1
            self.streams += 1
            self._pending.clear()
            return sequence
        self._stream_packets += 1
        ahead = (sequence - self._highest) & 0xFFFF
        if ahead < 0x8000:
            self._highest += ahead  # extended: goes on past 65535
            return self._highest
        return self._highest - (0x10000 - ahead)  # a late packet


@dataclass(eq=False)
class SyntheticPeer:
    """A browser stand-in that offers, sends the encoded loop and counts what it receives.

    ``received`` maps ``"audio"``/``"video"`` to what arrived (an :class:`RtpCounter` from
    :meth:`create`). ``video``/``audio`` are the looped tracks (``frames_sent``,
    ``keyframe_requests``); ``sending`` holds each kind's sender once connected.
    """

    pc: RTCPeerConnection
    video: LoopedVideoTrack | None = None
    audio: LoopedAudioTrack | None = None
    received: dict[str, ReceivedMedia] = field(default_factory=dict)
    #: Called with every RTP packet received (RTX included), before it is counted; for tests.
    observers: list[Callable[[bytes, RtpFields], None]] = field(default_factory=list)
    sending: dict[str, LoopedRtpSender] = field(default_factory=dict)
    _routes: dict[int, tuple[RtpCounter, bool]] = field(default_factory=dict)
    _endpoint: SrtpEndpoint | None = None
    _loss: tuple[float, random.Random] | None = None

    @classmethod
    def create(cls, media: EncodedLoop | None = None, configuration: RTCConfiguration | None = None) -> Self:
        """A peer sending ``media`` (by default this process's :func:`encoded_loop`)."""
        check_aiortc_internals()
        media = media or encoded_loop()
        pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        peer = cls(pc=pc, video=LoopedVideoTrack(media), audio=LoopedAudioTrack(media))
        for track in (peer.audio, peer.video):
            assert track is not None
            transceiver = pc.addTransceiver(track, direction="sendrecv")
            transceiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities(track.kind).codecs
                    if c.mimeType in _OFFERED[track.kind]
                ]
            )
            counter = RtpCounter(track.kind)
            # Until accept()/answer() takes the packets below aiortc (a test that applies the
            # descriptions itself), aiortc's receiver hands them over.
            divert_rtp(transceiver.receiver, counter.add)
            peer.received[track.kind] = counter
            take_over_sender(
                transceiver.sender,
                start=functools.partial(peer._start_sending, track),
                stop=functools.partial(peer._stop_sending, track.kind),
                on_rtcp=functools.partial(peer._on_sender_rtcp, track.kind),
            )
        return peer

    def _start_sending(
        self, track: LoopedVideoTrack | LoopedAudioTrack, params: SendParameters, endpoint: SrtpEndpoint
    ) -> None:
        sender = LoopedRtpSender(
            track,
            ssrc=params.ssrc,
            payload_type=params.codec.payload_type,
            send=endpoint.send,
            cname=params.cname,
            rtx_ssrc=params.rtx_ssrc,
            rtx_payload_type=params.rtx_payload_type,
        )
        if self._loss is not None:
            sender.drop(*self._loss)
        self.sending[track.kind] = sender
        sender.start()

    def _stop_sending(self, kind: str) -> None:
        sender = self.sending.get(kind)
        if sender is not None:
            sender.stop()

    def _on_sender_rtcp(self, kind: str, data: bytes) -> None:
        sender = self.sending.get(kind)
        if sender is not None:
            sender.on_rtcp(data)

    def drop_outgoing(self, fraction: float, rng: random.Random) -> None:
        """Lose ``fraction`` of the RTP packets this peer sends, at random (RTCP always goes):
        a lossy path to the server, for benchmarks. Retransmissions are lost as often."""
        self._loss = (fraction, rng)
        for sender in self.sending.values():
            sender.drop(fraction, rng)

    async def answer(self, sdp: str, sdp_type: str = "offer") -> tuple[str, str]:
        """Answer another peer's offer directly (a direct connection, without the server)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._receive_below_aiortc()
        return self.pc.localDescription.sdp, self.pc.localDescription.type

    async def offer(self) -> RTCSessionDescription:
        """Create and apply an offer (aiortc gathers every candidate first: no trickling)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription

    async def accept(self, sdp: str, sdp_type: str) -> None:
        """Apply the server's answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
        self._receive_below_aiortc()

    def _receive_below_aiortc(self) -> None:
        """Count RTP straight from the socket once negotiated (``SrtpEndpoint``, as the relay
        does): no aiortc parsing or routing per packet. RTCP keeps aiortc's way, to the senders."""
        routes: dict[int, tuple[RtpCounter, bool]] = {}
        for transceiver in self.pc.getTransceivers():
            counter = self.received.get(transceiver.kind)
            if isinstance(counter, RtpCounter) and transceiver.mid is not None:
                for codec in stream_parameters(self.pc, transceiver).codecs:
                    routes[codec.payload_type] = (counter, codec.is_rtx)
        self._routes = routes
        # Only a peer that counts with RtpCounters: one whose tracks a test reads through
        # aiortc's receivers (the e2e adviser's FrameCounter) keeps aiortc's receive path.
        if self._endpoint is None and routes:
            self._endpoint = SrtpEndpoint(dtls_transport(self.pc.getTransceivers()[0]))
            self._endpoint.intercept(self._on_rtp, None)

    def _on_rtp(self, data: bytes) -> None:
        try:
            fields = parse_rtp(data)
        except MalformedPacket:
            return
        for observer in self.observers:
            observer(data, fields)
        route = self._routes.get(fields.payload_type)
        if route is not None and not route[1]:
            route[0].add_bytes(data, fields)

    async def negotiate(self, answerer: Answerer) -> None:
        """Offer, have ``answerer(sdp, type)`` answer, and apply the answer."""
        offer = await self.offer()
        await self.accept(*await answerer(offer.sdp, offer.type))

    def receiving(self, *kinds: str) -> bool:
        """Whether a frame of each kind (default: both) has arrived."""
        return all(kind in self.received and self.received[kind].frames > 0 for kind in kinds or _OFFERED)

    async def wait_connected(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.pc.connectionState != "connected":
                if self.pc.connectionState in ("failed", "closed"):
                    raise ConnectionError(f"connection {self.pc.connectionState}")
                await asyncio.sleep(0.01)

    async def first_video_within(self, seconds: float) -> float:
        """When the first whole video frame arrived (``time.monotonic()``), waiting ``seconds``."""
        deadline = time.monotonic() + seconds
        while "video" not in self.received:  # a peer built without create() counts from on("track")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no video track within {seconds} s")
            await asyncio.sleep(0.01)
        return await self.received["video"].wait_first_frame(max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        for counter in self.received.values():
            await counter.stop()
        await self.pc.close()
