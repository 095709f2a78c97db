"""What one leg negotiated for one m-line, as the forwarding path reads it (no aiortc types)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Codec:
    """One negotiated payload type. ``rtx_for`` is the payload type an RTX payload type
    retransmits (its ``apt``, RFC 4588 section 8.6); ``feedback`` the RTCP feedback the
    answer allowed for it (``"nack"``, ``"nack pli"``, ``"ccm fir"``, ``"goog-remb"``)."""

    payload_type: int
    mime_type: str
    clock_rate: int
    rtx_for: int | None = None
    feedback: frozenset[str] = frozenset()
    packetization_mode: str | None = None  # H.264 (RFC 6184 section 8.1)

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type < 128 or self.clock_rate <= 0:
            raise ValueError("a payload type is 0..127 and a clock rate positive")

    @property
    def is_rtx(self) -> bool:
        return self.rtx_for is not None

    def matches(self, other: Codec) -> bool:
        """The same codec, whatever its payload type on either leg."""
        return (
            self.mime_type.lower() == other.mime_type.lower()
            and self.clock_rate == other.clock_rate
            and (self.packetization_mode or "0") == (other.packetization_mode or "0")
        )


@dataclass(frozen=True, slots=True)
class StreamParameters:
    """One leg's negotiation for one kind: its codecs (the first is what is sent), header
    extensions (id to URI), MID, our SSRCs for what we send (media and RTX), and the SSRCs
    the party signalled for what it sends (empty when its offer named none)."""

    kind: str
    codecs: tuple[Codec, ...]
    extensions: dict[int, str] = field(default_factory=dict)
    mid: str | None = None
    local_ssrc: int = 0
    local_rtx_ssrc: int = 0
    remote_ssrcs: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind {self.kind!r}")

    @property
    def primary(self) -> Codec | None:
        """The codec the party was answered with first (what it sends and we send)."""
        return next((c for c in self.codecs if not c.is_rtx), None)

    def codec(self, payload_type: int) -> Codec | None:
        return next((c for c in self.codecs if c.payload_type == payload_type), None)

    def rtx_for(self, payload_type: int) -> Codec | None:
        """The RTX payload type that retransmits ``payload_type`` on this leg, if negotiated."""
        return next((c for c in self.codecs if c.rtx_for == payload_type), None)

    def matching(self, codec: Codec) -> Codec | None:
        """This leg's payload type for ``codec`` (negotiated on another leg), if any."""
        return next((c for c in self.codecs if not c.is_rtx and c.matches(codec)), None)

    def has_feedback(self, kind: str) -> bool:
        primary = self.primary
        return primary is not None and kind in primary.feedback
