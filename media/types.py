"""Protocols and aliases shared inside the media package."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from media.frames import EncodedFrame

if TYPE_CHECKING:
    from media.rtp_inbound import PacketCallback, ReportCallback

MediaKind = Literal["audio", "video"]
Party = Literal["visitor", "adviser"]

FrameCallback = Callable[[EncodedFrame], None]


class FrameSource(Protocol):
    """Where encoded frames of one kind come from (a party's inbound stream, depacketized)."""

    kind: str

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback`` with every frame; returns the unsubscribe function."""

    def request_keyframe(self) -> None:
        """Ask the sending party for a keyframe."""


class PacketSource(Protocol):
    """Where one party's RTP packets of one kind come from (an ``InboundRtp``, or the
    ``MediaCall``'s source that follows the party across leg replacements)."""

    kind: str

    def subscribe_packets(self, callback: PacketCallback) -> Callable[[], None]:
        """Call ``callback(stream, data, fields, now)`` with every packet."""

    def subscribe_reports(self, callback: ReportCallback) -> Callable[[], None]:
        """Call ``callback(stream, report)`` with every sender report of the party."""

    def request_keyframe(self) -> None:
        """Ask the sending party for a keyframe."""

    def send_remb(self, bitrate: int) -> None:
        """Tell the sending party the most it should send."""
