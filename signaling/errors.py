"""Errors signaling raises: the shared refusal kinds from ``db.errors``, re-exported so that
signaling's modules (and the API over them) name one place."""

from db.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
)

__all__ = [
    "Busy",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthenticated",
]
