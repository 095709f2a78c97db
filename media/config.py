"""Settings of the media package, built once by the shell and passed in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
# The codecs the forwarder can pass through (it needs to find keyframes in them).
FORWARDABLE_CODECS = ("video/VP8", "video/H264", "audio/opus")


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server, as in W3C ``RTCIceServer``."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an ICE server needs at least one URL")
        for url in self.urls:
            if not url.startswith(_ICE_SCHEMES):
                raise ValueError(f"ICE server URL must start with one of {_ICE_SCHEMES}: {url!r}")
        is_turn = any(url.startswith(("turn:", "turns:")) for url in self.urls)
        if is_turn and (self.username is None or self.credential is None):
            raise ValueError("a TURN server needs a username and a credential")


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """How the media package runs.

    ``allow_private_candidates`` lets remote ICE candidates point at private, loopback and
    link-local addresses (and mDNS ``.local`` names). It is off in production: a visitor must
    not make the media server probe the server's own network. Tests on loopback turn it on.

    ``udp_ports`` (first, last) is the UDP range the media's ICE candidates bind in (each leg
    takes one port per local address; unset: any free port), and ``public_address`` the IP
    address that range is reachable at from outside (a NAT, a container's published ports),
    announced as a server-reflexive candidate beside the host ones (``media._aiortc_hooks``,
    "ICE ports").
    """

    ice_servers: tuple[IceServer, ...] = ()
    allow_private_candidates: bool = False
    # Encoded video frames a leg's sender may have queued before the forwarder starts over
    # from the next keyframe (the sender normally drains the queue at once).
    max_queued_video_frames: int = 30
    # Opus frames (20 ms each) queued before the oldest are dropped.
    max_queued_audio_frames: int = 25
    # Shortest time between two picture loss indications sent to one party (RFC 4585
    # section 3.5.4 asks feedback to be rate-limited); requests in between are coalesced.
    pli_min_interval_s: float = 0.2
    # While a forwarder waits for a keyframe, how often it repeats its request.
    keyframe_retry_s: float = 0.5
    # How long a party whose connection failed (ICE consent lost, RFC 7675 section 5.1) has
    # to offer again from a new one before its call ends; 0 ends it at once. The widget and
    # console offer again a few seconds after their side notices (widget/src/shared/rtc.ts).
    rejoin_grace_s: float = 20.0
    codec_preferences: tuple[str, ...] = FORWARDABLE_CODECS
    udp_ports: tuple[int, int] | None = None
    public_address: str | None = None

    def __post_init__(self) -> None:
        if self.udp_ports is not None:
            first, last = self.udp_ports
            if not 1024 <= first <= last <= 65535:
                raise ValueError("udp_ports: ports between 1024 and 65535, the first not above the last")
        if self.public_address is not None:
            try:
                ipaddress.ip_address(self.public_address)
            except ValueError as exc:
                raise ValueError(f"public_address must be an IP address: {self.public_address!r}") from exc
        if self.max_queued_video_frames < 1 or self.max_queued_audio_frames < 1:
            raise ValueError("queue sizes must be at least 1")
        if self.pli_min_interval_s < 0 or self.keyframe_retry_s <= 0:
            raise ValueError("keyframe timings must be positive")
        if self.rejoin_grace_s < 0:
            raise ValueError("rejoin_grace_s must not be negative")
        unknown = set(self.codec_preferences) - set(FORWARDABLE_CODECS)
        if unknown:
            raise ValueError(f"cannot forward {sorted(unknown)}; choose from {FORWARDABLE_CODECS}")
        kinds = {mime.split("/", 1)[0] for mime in self.codec_preferences}
        if kinds != {"audio", "video"}:
            raise ValueError("codec_preferences must name at least one audio and one video codec")
