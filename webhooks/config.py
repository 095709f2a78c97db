"""Settings of outgoing webhooks, handed in by the shell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """How webhooks are checked and sent. The defaults are production's.

    ``allow_insecure_targets`` admits ``http://`` URLs and targets on private, loopback and
    link-local addresses: for development and tests only. In production an admin must not
    be able to make the server probe its own network (SSRF).
    """

    allow_insecure_targets: bool = False
    timeout_seconds: float = 10.0
    max_attempts: int = 10
    # Attempt n waits base * 2**(n-1), capped, then jittered down by up to half
    # (db.jobs.backoff): at the defaults the 10 attempts span about 4 to 8.5 hours.
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 6 * 3600.0
    lease_seconds: float = 60.0
    # Deliveries one worker claims and sends at once.
    batch_size: int = 20

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.max_attempts < 1 or self.batch_size < 1:
            raise ValueError("timeout, attempts and batch size must be positive")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds:
            raise ValueError("retry delays must be positive, the base no larger than the maximum")
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("the lease must outlast a request's timeout")
