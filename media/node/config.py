"""Settings of media nodes and of those who place calls on them, built by the shell and passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Node and call ids go into Redis keys and URL paths: plain characters only.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_SECRET_LENGTH = 32


def valid_id(value: str) -> bool:
    """Whether ``value`` may name a node or a call on the internal channel."""
    return bool(_ID.fullmatch(value))


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """What every member of the media cluster shares: Redis, the internal secret, the timings.

    ``secret`` signs every request on the internal channel (``media.node.auth``). A node's
    registration lives ``node_ttl_s`` and is renewed every ``heartbeat_interval_s``, so a
    node that dies is gone from the registry within ``node_ttl_s``. A call's mapping to its
    node lives ``call_ttl_s`` and is renewed by the node's heartbeat while it holds the
    call; a closed call keeps a tombstone for ``closed_ttl_s`` so late requests are refused
    rather than placed afresh. Ended events not acknowledged by a signalling node within
    ``ended_claim_idle_s`` (it died) are taken over by another.
    """

    redis_url: str
    secret: str
    redis_prefix: str = "loket:"
    heartbeat_interval_s: float = 1.0
    node_ttl_s: float = 3.0
    call_ttl_s: float = 30.0
    closed_ttl_s: float = 3600.0
    signature_window_s: float = 30.0
    request_timeout_s: float = 30.0
    ended_claim_idle_s: float = 30.0
    ended_stream_length: int = 10_000

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the media nodes' shared secret needs at least {MIN_SECRET_LENGTH} characters")
        if self.heartbeat_interval_s <= 0 or self.node_ttl_s < 2 * self.heartbeat_interval_s:
            raise ValueError("a node's registration must outlive at least two heartbeats")
        if self.call_ttl_s < 2 * self.node_ttl_s:
            raise ValueError("a call's mapping must outlive its node's registration twice over")
        for name in ("closed_ttl_s", "signature_window_s", "request_timeout_s", "ended_claim_idle_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.ended_stream_length < 100:
            raise ValueError("ended_stream_length must be at least 100")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One media node: its id, where its internal server listens, where it spools.

    ``bind_host`` must be an address of the internal network only: visitors never reach the
    internal channel (its requests are signed as well). ``bind_port`` 0 takes a free port.
    ``internal_url`` is how signalling nodes reach this one (``http://{bind_host}:{port}``
    when unset; set it when binding to ``0.0.0.0`` or behind a container's name). The id
    stays the same across restarts, so a restarted node finds its own spool's work.
    """

    node_id: str
    spool_dir: Path
    bind_host: str = "127.0.0.1"
    bind_port: int = 0
    internal_url: str | None = None
    max_body_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if not valid_id(self.node_id):
            raise ValueError(
                "a node id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if not 0 <= self.bind_port <= 65535:
            raise ValueError("bind_port must be 0-65535")
        if self.internal_url is not None:
            url = urlsplit(self.internal_url)
            # Requests are signed over their path: the URL names a server, not a place on one.
            if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
                raise ValueError("internal_url is http(s)://host:port, without a path")
        if self.max_body_bytes < 16 * 1024:
            raise ValueError("max_body_bytes must be at least 16 KiB (an SDP offer)")
