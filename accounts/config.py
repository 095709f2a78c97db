"""Settings the accounts package needs, handed in by the shell."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` hits per ``window_seconds``."""

    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1:
            raise ValueError("rate limit and window must be positive")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Staff login: how often one address may try, how many failures lock an account for a
    window from one address, how many from all addresses together lock it everywhere but
    inside its own location, and how long a refresh token lives."""

    login_per_ip: RateLimit = field(default_factory=lambda: RateLimit(20, 60))
    login_failures_per_account: RateLimit = field(default_factory=lambda: RateLimit(5, 900))
    login_failures_anywhere: RateLimit = field(default_factory=lambda: RateLimit(20, 900))
    refresh_token_seconds: int = 14 * 86400
