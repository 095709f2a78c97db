"""Settings the signaling package needs, handed in by the shell."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from accounts.config import RateLimit


@dataclass(frozen=True, slots=True)
class SignalingConfig:
    secret_key: str
    issuer: str = "loket"
    # Where browsers reach this server (embed snippets); None: the request's own host.
    public_url: str | None = None
    access_token_seconds: int = 15 * 60
    refresh_token_seconds: int = 14 * 86400
    visitor_token_seconds: int = 2 * 3600
    ring_timeout_seconds: float = 20.0
    resume_window_seconds: float = 60.0
    # How often each node looks for due rings and expired disconnections.
    tick_seconds: float = 0.5
    # A signalling node's heartbeat lapses after this long; the other nodes then count its
    # connections gone (their sessions get the resume window to come back elsewhere).
    node_ttl_seconds: float = 10.0
    # How long a change of an organisation's calls waits for the organisation's lock, and may
    # hold it at most; one that waits longer is answered ``busy`` (try again) with nothing done.
    lock_timeout_seconds: float = 10.0
    # queue:position and queue:snapshot are sent at most this often to one session.
    queue_update_seconds: float = 1.0
    trusted_proxies: tuple[str, ...] = ()
    # "x-forwarded-for" or "forwarded" (RFC 7239): the header the trusted proxies write.
    forwarded_header: str = "x-forwarded-for"
    ice_servers: tuple[dict[str, Any], ...] = ()
    turn_secret: str | None = None
    login_per_ip: RateLimit = field(default_factory=lambda: RateLimit(20, 60))
    login_failures_per_account: RateLimit = field(default_factory=lambda: RateLimit(5, 900))
    widget_sessions_per_ip: RateLimit = field(default_factory=lambda: RateLimit(30, 60))
    # Installation-wide caps on anonymous creation, whatever the number of addresses.
    widget_sessions_installation: RateLimit = field(default_factory=lambda: RateLimit(600, 60))
    privacy_requests_installation: RateLimit = field(default_factory=lambda: RateLimit(300, 3600))
    # Privacy requests by reference code: asking is rare (and guessing codes must stay
    # hopeless); following a request and downloading its export is a page polling.
    privacy_requests_per_ip: RateLimit = field(default_factory=lambda: RateLimit(10, 600))
    privacy_reads_per_ip: RateLimit = field(default_factory=lambda: RateLimit(120, 60))
    # Chat lines per session (visitor or adviser): enough to type, too few to flood the other side.
    chat_per_session: RateLimit = field(default_factory=lambda: RateLimit(20, 10))
    # Ratings per visitor session: a visitor may change its stars, not hammer the database.
    ratings_per_session: RateLimit = field(default_factory=lambda: RateLimit(20, 60))
    # Mean handle time assumed for the ETA until a queue has finished calls of its own.
    default_handle_seconds: float = 180.0
    max_payload_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ValueError("secret_key is too short")
        for cidr in self.trusted_proxies:
            ipaddress.ip_network(cidr, strict=False)
