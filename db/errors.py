"""The root of Loket's error tree.

It lives in the bottom package so that every domain package can subclass it without
importing the shell (arrows point down only).
"""

from __future__ import annotations


class LoketError(Exception):
    """Base of every error Loket raises on purpose.

    ``code`` is a stable machine-readable string for API clients; ``status`` is the HTTP
    status the edge answers with. Subclasses set both as class attributes.
    """

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# The kinds of refusal every package shares; each maps to one HTTP status at the edge.
class InvalidInput(LoketError):
    code = "invalid_input"
    status = 422


class Unauthenticated(LoketError):
    code = "unauthenticated"
    status = 401


class Forbidden(LoketError):
    code = "forbidden"
    status = 403


class NotFound(LoketError):
    code = "not_found"
    status = 404


class Conflict(LoketError):
    code = "conflict"
    status = 409


class PayloadTooLarge(LoketError):
    code = "payload_too_large"
    status = 413


class RateLimited(LoketError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(RateLimited):
    """Not refused, only not now: what the request needed (an organisation's lock, say) was
    held by others for longer than it may wait. Nothing of it was done; the same request may
    be sent again."""

    code = "busy"
    status = 503

    def __init__(
        self, message: str = "the server is busy; try again in a moment", *, retry_after: int = 1
    ) -> None:
        super().__init__(message, retry_after=retry_after)
