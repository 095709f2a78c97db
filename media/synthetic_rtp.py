"""The synthetic peer's senders: the pre-encoded loop as RTP packets built once per process.

aiortc's ``RTCRtpSender`` builds an ``RtpPacket`` object per packet and serializes it, behind
two coroutines, per peer: that was most of what a synthetic client cost. Here
:func:`packetized_loop` cuts each frame of an :class:`~media.synthetic.EncodedLoop` into RTP
payloads once (VP8 as RFC 7741 with a 15-bit picture id, the way aiortc's packetizer does;
Opus one frame a packet), and a :class:`LoopedRtpSender` per peer and kind only writes the
12-byte header (its SSRC, sequence number, timestamp), the picture id and the frame trailer
(``media.synthetic.frame_trailer``), and hands the packet to be SRTP-protected and sent.
Each sender keeps its own schedule (the loop's frame rate for video, 20 ms for audio, from
when it started), catching up when it was late, as a camera-paced track would; one timer of
the event loop (:class:`_Pacer`, every 5 ms) serves every sender, since a timer per sender
and frame cost a fifth of a peer's CPU in asyncio's timer heap.

It answers RTCP as a browser's sender does: PLI/FIR restart the video loop at its keyframe,
a NACK is answered from a send history (on the RTX stream where RTX was negotiated), a REMB
for its SSRC is kept (:attr:`LoopedRtpSender.target_bitrate`; the bitrate is not changed), and
a sender report (with SDES CNAME) goes about once a second, its RTP time that of the wall
clock's NTP time, so a relay can keep lip sync.
"""

from __future__ import annotations

import functools
import logging
import random
import struct
import time
import weakref
from asyncio import AbstractEventLoop, Handle, get_running_loop
from typing import Final, Protocol

from media import rtcp_packets as rtcp
from media.rtp_header import MalformedPacket, parse_rtp, wrap_rtx
from media.synthetic import (
    AUDIO_CLOCK_RATE,
    FRAME_TRAILER_SIZE,
    VIDEO_CLOCK_RATE,
    EncodedLoop,
    LoopedAudioTrack,
    LoopedVideoTrack,
    frame_trailer,
)

logger = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("!BBHII")
_PICTURE_ID: Final = struct.Struct("!H")
_MAX_PAYLOAD: Final = 1300  # bytes of RTP payload, as aiortc's packetizers cut
_VP8_DESCRIPTOR: Final = 4  # X, I, M: a 15-bit picture id (RFC 7741 section 4.2)
_AUDIO_PERIOD_S: Final = 0.02
_AUDIO_TICKS: Final = AUDIO_CLOCK_RATE // 50
_HISTORY: Final = 512  # video packets kept for NACKs (about 5 s of the loop)
_REPORT_INTERVAL_S: Final = 1.0  # sender reports, varied by [0.5, 1.5] (RFC 3550 section 6.2)
_PACER_TICK_S: Final = 0.005


class SendPacket(Protocol):
    """Protects and sends one RTP packet (``rtcp=True``: compound RTCP); ``False`` if it could
    not go (``media._aiortc_hooks.SrtpEndpoint.send``)."""

    def __call__(self, data: bytes, *, rtcp: bool = False) -> bool: ...


@functools.cache
def packetized_loop(loop: EncodedLoop) -> tuple[tuple[tuple[bytes, ...], ...], tuple[bytes, ...]]:
    """``(video, audio)``: the RTP payloads of each video frame of ``loop`` and of each audio
    frame. A video frame's payloads leave room for its trailer at the end of the last one,
    and their descriptors a picture id of 0 (the sender writes both per frame)."""
    video = []
    for frame in loop.video:
        data = frame + bytes(FRAME_TRAILER_SIZE)
        count = -(-len(data) // (_MAX_PAYLOAD - _VP8_DESCRIPTOR))
        size = -(-len(data) // count)  # equal parts: the last keeps the whole trailer
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert len(chunks[-1]) >= FRAME_TRAILER_SIZE
        video.append(
            tuple(bytes((0x90 if i == 0 else 0x80, 0x80, 0x80, 0)) + c for i, c in enumerate(chunks))
        )
    return tuple(video), loop.audio


@functools.cache
def _video_parts(payloads: tuple[bytes, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """One frame's payloads of :func:`packetized_loop` cut around what the sender writes per
    frame: ``(lead, body)``, the descriptor's first two bytes and what follows the picture id
    (the last body without its room for the trailer). Cut once, so that a packet is one copy."""
    last = len(payloads) - 1
    return tuple(
        (payload[:2], payload[4:-FRAME_TRAILER_SIZE] if i == last else payload[4:])
        for i, payload in enumerate(payloads)
    )


class LoopedRtpSender:
    """Sends one kind of the loop as RTP packets for one peer (see the module docstring)."""

    def __init__(
        self,
        track: LoopedVideoTrack | LoopedAudioTrack,
        *,
        ssrc: int,
        payload_type: int,
        send: SendPacket,
        cname: str = "",
        rtx_ssrc: int = 0,
        rtx_payload_type: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()  # noqa: S311 (start values of a test stream)
        self.kind = track.kind
        self.track = track
        self.ssrc = ssrc
        self.target_bitrate: int | None = None  # from the receiver's last REMB
        self.packets_sent = 0
        self.octets_sent = 0
        self.retransmitted = 0
        self._send = send
        self._payload_type = payload_type
        self._cname = cname
        self._rtx_ssrc = rtx_ssrc
        self._rtx_payload_type = rtx_payload_type
        self._rtx_sequence = rng.getrandbits(15)
        self._sequence = rng.getrandbits(15)  # low half: no early wrap (as aiortc)
        self._timestamp_origin = rng.getrandbits(32)
        self._picture_origin = rng.getrandbits(15)
        video, self._audio = packetized_loop(track.loop)
        if isinstance(track, LoopedVideoTrack):
            self._video: tuple[tuple[bytes, ...], ...] | None = video
            self._period = 1 / track.loop.fps
            self._ticks = VIDEO_CLOCK_RATE // track.loop.fps
            self._clock_rate = VIDEO_CLOCK_RATE
            self._history: list[bytes | None] = [None] * _HISTORY
        else:
            self._video = None
            self._period, self._ticks, self._clock_rate = _AUDIO_PERIOD_S, _AUDIO_TICKS, AUDIO_CLOCK_RATE
            self._history = []
        self._rng = rng
        self._loss = 0.0
        self._loss_rng: random.Random | None = None
        self._start = 0.0
        self._frames = 0  # sent since start()
        self._next_at = self._report_at = 0.0
        self._last_timestamp: int | None = None
        self._last_sent_at = 0.0
        self._pacer: _Pacer | None = None

    def start(self) -> None:
        """Send the first frame now and the rest at the loop's rate, on the event loop."""
        loop = get_running_loop()
        self.schedule(loop.time())
        self._pacer = _Pacer.of(loop)
        self._pacer.add(self)

    def schedule(self, start: float) -> None:
        """Frame ``n`` is due at ``start + n * period`` (:meth:`due` sends it)."""
        self._start = self._next_at = start
        self._frames = 0
        self._report_at = start + self._report_delay()

    def stop(self) -> None:
        if self._pacer is not None:
            self._pacer.remove(self)
            self._pacer = None

    def drop(self, fraction: float, rng: random.Random) -> None:
        """Lose ``fraction`` of the RTP packets from now on (retransmissions too; RTCP goes)."""
        self._loss, self._loss_rng = fraction, rng

    # --- media -----------------------------------------------------------------------------

    def due(self, now: float) -> None:
        """Send what is due by ``now`` (event-loop time): frames, and a sender report."""
        while self._next_at <= now:
            self._send_frame()
            self._frames += 1
            self._next_at = self._start + self._frames * self._period
        if self._report_at <= now:
            self._report_at = now + self._report_delay()
            self._report()

    def _send_frame(self) -> None:
        index, number = self.track.take_frame()
        timestamp = (self._timestamp_origin + number * self._ticks) & 0xFFFFFFFF
        if self._video is None:
            marker = 0x80 if number == 0 else 0  # the first packet of a talkspurt (RFC 3551)
            self._emit(marker | self._payload_type, timestamp, self._audio[index])
        else:
            self._send_video(self._video[index], number, timestamp)
        self._last_timestamp, self._last_sent_at = timestamp, time.time()

    def _send_video(self, payloads: tuple[bytes, ...], number: int, timestamp: int) -> None:
        picture = _PICTURE_ID.pack(0x8000 | (self._picture_origin + number) & 0x7FFF)
        parts = _video_parts(payloads)
        last = len(parts) - 1
        for i, (lead, body) in enumerate(parts):
            if i == last:
                self._emit(0x80 | self._payload_type, timestamp, lead, picture, body, frame_trailer(number))
            else:
                self._emit(self._payload_type, timestamp, lead, picture, body)

    def _emit(self, second: int, timestamp: int, *payload: bytes) -> None:
        """Send one packet whose payload is the concatenation of ``payload`` (one copy)."""
        sequence = self._sequence
        self._sequence = (sequence + 1) & 0xFFFF
        packet = b"".join((_HEADER.pack(0x80, second, sequence, timestamp, self.ssrc), *payload))
        if self._video is not None:
            self._history[sequence % _HISTORY] = packet
        self.packets_sent += 1
        self.octets_sent += len(packet) - _HEADER.size
        self._transmit(packet)

    def _transmit(self, packet: bytes) -> None:
        if self._loss and self._loss_rng is not None and self._loss_rng.random() < self._loss:
            return
        self._send(packet)

    # --- RTCP ------------------------------------------------------------------------------

    def on_rtcp(self, data: bytes) -> None:
        """Compound RTCP for this peer (aiortc routed it here by our SSRC)."""
        try:
            packets = rtcp.parse_rtcp(data)
        except MalformedPacket:
            return
        for packet in packets:
            if self.ssrc in (packet.media_ssrcs if isinstance(packet, rtcp.Fir) else ()) or (
                isinstance(packet, rtcp.Pli) and packet.media_ssrc == self.ssrc
            ):
                self._keyframe_request()
            elif isinstance(packet, rtcp.Nack) and packet.media_ssrc == self.ssrc:
                self._retransmit(packet.lost)
            elif isinstance(packet, rtcp.Remb) and self.ssrc in packet.ssrcs:
                self.target_bitrate = packet.bitrate

    def _keyframe_request(self) -> None:
        if isinstance(self.track, LoopedVideoTrack):
            self.track.request_keyframe()

    def _retransmit(self, sequences: list[int]) -> None:
        for sequence in sequences:
            packet = self._history[sequence % _HISTORY] if self._history else None
            if packet is None or (packet[2] << 8 | packet[3]) != sequence:
                continue
            if self._rtx_payload_type is None:
                continue  # the same SRTP index again would be refused as a replay
            packet = wrap_rtx(
                packet,
                parse_rtp(packet),
                payload_type=self._rtx_payload_type,
                sequence=self._rtx_sequence,
                ssrc=self._rtx_ssrc,
            )
            self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
            self.retransmitted += 1
            self._transmit(packet)

    def _report_delay(self) -> float:
        return _REPORT_INTERVAL_S * (0.5 + self._rng.random())

    def _report(self) -> None:
        if self._last_timestamp is None:
            return
        now = time.time()
        # The RTP time of this very moment, on the stream's clock (RFC 3550 section 6.4.1).
        elapsed = round((now - self._last_sent_at) * self._clock_rate)
        report = rtcp.SenderReport(
            self.ssrc,
            rtcp.ntp_now(now),
            (self._last_timestamp + elapsed) & 0xFFFFFFFF,
            self.packets_sent & 0xFFFFFFFF,
            self.octets_sent & 0xFFFFFFFF,
        )
        self._send(rtcp.sender_report(report) + rtcp.sdes_cname(self.ssrc, self._cname), rtcp=True)


class _Pacer:
    """The one timer that drives every :class:`LoopedRtpSender` of an event loop."""

    _of_loop: weakref.WeakKeyDictionary[AbstractEventLoop, _Pacer] = weakref.WeakKeyDictionary()

    def __init__(self, loop: AbstractEventLoop) -> None:
        self._loop = loop
        self._senders: list[LoopedRtpSender] = []
        self._timer: Handle | None = None

    @classmethod
    def of(cls, loop: AbstractEventLoop) -> _Pacer:
        pacer = cls._of_loop.get(loop)
        if pacer is None:
            pacer = cls._of_loop[loop] = cls(loop)
        return pacer

    def add(self, sender: LoopedRtpSender) -> None:
        self._senders.append(sender)
        if self._timer is None:
            self._timer = self._loop.call_soon(self._tick)

    def remove(self, sender: LoopedRtpSender) -> None:
        if sender in self._senders:
            self._senders.remove(sender)
        if not self._senders and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        now = self._loop.time()
        for sender in list(self._senders):
            try:
                sender.due(now)
            except Exception:  # one sender's bug must not stop every other peer's media
                logger.exception("synthetic %s sender failed", sender.kind)
                self.remove(sender)
        self._timer = self._loop.call_at(now + _PACER_TICK_S, self._tick) if self._senders else None
