"""``Forwarder``: passes one party's RTP packets to the other party's leg, header rewritten.

No jitter buffer, no depacketizer, no ``RTCRtpSender``: each packet that arrives decrypted on
the sending party's leg leaves, re-encrypted, on the receiving party's leg within the same
call stack, with its header rewritten for that leg (as LiveKit, mediasoup and Janus do):

- SSRC: the one our answer announced to the receiving party;
- payload type: the receiving leg's number for the same codec (both legs are answered with
  the same video codec, ``MediaCall``); a packet of a codec the receiving leg lacks is dropped;
- sequence number and timestamp: the receiving leg's :class:`~media.rtp_header.StreamMapper`,
  continuous across a replaced sending leg;
- header extensions: the receiving leg's ids, or dropped (:class:`~media.rtp_header.ExtensionRewriter`).

For video it keeps the receiving decoder whole: forwarding starts (and, after the sending
party changed streams, starts again) at a keyframe, asked for upstream at once and again every
``keyframe_retry_s`` while waiting; a late joiner sees video within a round trip or so. Going
the other way, the receiving party's PLI/FIR and REMB reach the sending party (its SSRC
mapped by its own leg), and the sending party's sender reports reach the receiving party
rewritten (:meth:`~media.rtp_outbound.OutboundRtp.send_sender_report`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from media import rtcp_packets as rtcp
from media.rtp_header import ExtensionRewriter, RtpFields
from media.rtp_inbound import InboundRtp, PacketSource
from media.rtp_outbound import OutboundRtp
from media.rtp_params import StreamParameters
from media.rtp_payload import starts_keyframe

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ForwarderStats:
    """Counters of one forwarder, for metrics and tests."""

    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    keyframe_requests: int = 0
    remb_forwarded: int = 0
    sender_reports: int = 0


@dataclass(slots=True)
class _Route:
    """How packets of one sending leg's negotiation are rewritten for the receiving leg's."""

    source: StreamParameters
    target: StreamParameters
    payload_types: dict[int, int]
    extensions: ExtensionRewriter
    mime_type: str


class Forwarder:
    """Forwards the packets of ``source`` (what one party sends of one kind) into ``sink``
    (the other party's outbound stream of that kind); see the module docstring."""

    def __init__(
        self,
        source: PacketSource,
        sink: OutboundRtp,
        *,
        keyframe_retry_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if source.kind != sink.kind:
            raise ValueError(f"cannot forward {source.kind} to a {sink.kind} stream")
        self.kind = source.kind
        self.stats = ForwarderStats()
        self._source = source
        self._sink = sink
        self._video = self.kind == "video"
        self._keyframe_retry_s = keyframe_retry_s
        self._clock = clock
        self._need_keyframe = self._video
        self._last_request_at: float | None = None
        self._source_ssrc: int | None = None
        self._route: _Route | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        return bool(self._unsubscribe)

    def start(self) -> None:
        """Start forwarding. Idempotent."""
        if self._unsubscribe:
            return
        sink = self._sink
        sink.on_keyframe_request = self._on_keyframe_request
        sink.on_remb = self._on_remb
        sink.on_ready = self._on_ready
        self._unsubscribe = [
            self._source.subscribe_packets(self._on_packet),
            self._source.subscribe_reports(self._on_sender_report),
        ]
        if sink.ready:
            self._on_ready()

    def stop(self) -> None:
        """Stop forwarding. Idempotent."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        sink = self._sink
        if sink.on_ready == self._on_ready:
            sink.on_keyframe_request = sink.on_remb = sink.on_ready = None

    # --- downstream to upstream -------------------------------------------------------------

    def _on_ready(self) -> None:
        # A new receiver can only start decoding at a keyframe: get one now rather than at
        # the sender's next periodic one (a late joiner sees video at once).
        if self._video:
            self._need_keyframe = True
            self._request_keyframe()

    def _on_keyframe_request(self) -> None:
        self._request_keyframe()

    def _request_keyframe(self) -> None:
        self._last_request_at = self._clock()
        self.stats.keyframe_requests += 1
        self._source.request_keyframe()

    def _on_remb(self, bitrate: int) -> None:
        self.stats.remb_forwarded += 1
        self._source.send_remb(bitrate)

    def _on_sender_report(self, stream: InboundRtp, report: rtcp.SenderReport) -> None:
        if self._sink.send_sender_report(report.ssrc, report):
            self.stats.sender_reports += 1

    # --- upstream to downstream -------------------------------------------------------------

    def _on_packet(self, stream: InboundRtp, data: bytes, fields: RtpFields, now: float) -> None:
        self.stats.received += 1
        sink = self._sink
        if not sink.ready:
            self._need_keyframe = self._video
            self.stats.dropped += 1
            return
        route = self._route
        if route is None or route.source is not stream.params or route.target is not sink.params:
            route = self._route = self._new_route(stream, sink)
            if route is None:
                self.stats.dropped += 1
                return
        payload_type = route.payload_types.get(fields.payload_type)
        if payload_type is None:
            self.stats.dropped += 1
            return
        if self._video and not self._admit_video(data, fields, route.mime_type, now):
            self.stats.dropped += 1
            return
        extensions = None if route.extensions.identity else route.extensions.rewrite(data, fields)
        if sink.send_media(data, fields, payload_type, extensions, now):
            self.stats.forwarded += 1
        else:
            self.stats.dropped += 1

    def _admit_video(self, data: bytes, fields: RtpFields, mime_type: str, now: float) -> bool:
        if fields.ssrc != self._source_ssrc:
            # Another stream (the party's new leg, or its sender restarted): its frames do not
            # follow from what the receiver has, so start again at a keyframe.
            self._source_ssrc = fields.ssrc
            self._need_keyframe = True
        if not self._need_keyframe:
            return True
        if starts_keyframe(mime_type, data[fields.ext_end : fields.payload_end]):
            self._need_keyframe = False
            assert self._sink.mapper is not None
            self._sink.mapper.restart()  # no gap for the packets skipped while waiting
            return True
        if self._last_request_at is None or now - self._last_request_at >= self._keyframe_retry_s:
            self._request_keyframe()
        return False

    def _new_route(self, stream: InboundRtp, sink: OutboundRtp) -> _Route | None:
        source, target = stream.params, sink.params
        if source is None or target is None:
            return None
        payload_types = {}
        for codec in source.codecs:
            if codec.is_rtx:
                continue
            match = target.matching(codec)
            if match is not None:
                payload_types[codec.payload_type] = match.payload_type
        primary = target.primary
        if not payload_types:
            logger.warning(
                "cannot forward %s: the receiving leg negotiated %s",
                self.kind,
                primary.mime_type if primary else None,
            )
        return _Route(
            source=source,
            target=target,
            payload_types=payload_types,
            extensions=ExtensionRewriter(
                source.extensions, target.extensions, source_mid=source.mid, target_mid=target.mid
            ),
            mime_type=primary.mime_type if primary is not None else "",
        )
