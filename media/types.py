"""Protocols and aliases shared inside the media package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from media.frames import EncodedFrame

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
