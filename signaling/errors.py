"""Errors signaling raises; the edge turns each into ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from db import LoketError


class SignalingError(LoketError):
    code = "bad_request"
    status = 400


class InvalidInput(SignalingError):
    code = "invalid_input"
    status = 422


class Unauthenticated(SignalingError):
    code = "unauthenticated"
    status = 401


class Forbidden(SignalingError):
    code = "forbidden"
    status = 403


class NotFound(SignalingError):
    code = "not_found"
    status = 404


class Conflict(SignalingError):
    code = "conflict"
    status = 409


class PayloadTooLarge(SignalingError):
    code = "payload_too_large"
    status = 413


class RateLimited(SignalingError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
