"""REST bodies and answers, validated at the edge and converted once; socket.io payloads live in
``signaling.payloads``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from signaling.models import MAX_RATING, MIN_RATING
from signaling.payloads import Payload

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# -- auth ------------------------------------------------------------------------------------


class LoginRequest(Payload):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    # The authenticator's 6 digits, or one of the recovery codes (``abcde-fghij``).
    totp: Annotated[str, StringConstraints(pattern=r"^(\d{6}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5})$")] | None = None


class RefreshRequest(Payload):
    refresh_token: Annotated[str, StringConstraints(min_length=10, max_length=200)]


class TokenPair(Payload):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


# A language the staff consoles speak (accounts.models.CONSOLE_LANGUAGES).
ConsoleLanguage = Literal["nl", "de", "fr", "en"]
_CONSOLE_LANGUAGES: dict[str, ConsoleLanguage] = {"nl": "nl", "de": "de", "fr": "fr", "en": "en"}


def console_language(stored: str | None) -> ConsoleLanguage | None:
    """A user's stored console language as the wire type; None (the browser's) when unset."""
    return _CONSOLE_LANGUAGES.get(stored or "")


class Me(Payload):
    id: uuid.UUID
    org_id: uuid.UUID
    email: str
    display_name: str
    role: str
    languages: list[str]
    # The consoles' language; null follows the browser's.
    ui_language: ConsoleLanguage | None = None


class MePatch(Payload):
    """What staff change about themselves: the consoles' language (null: the browser's)."""

    ui_language: ConsoleLanguage | None


# -- widget ----------------------------------------------------------------------------------


class WidgetSessionRequest(Payload):
    widget_key: Annotated[str, StringConstraints(min_length=8, max_length=64)]
    # The host page's context for the adviser; checked against the key (accounts.context).
    context: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=1000)]
    ] = {}


class QueueSummary(Payload):
    id: uuid.UUID
    name: str
    languages: list[str]
    open: bool
    opens_at: datetime | None = None
    recording_policy: str
    # The queue's IANA time zone: the widget shows ``opens_at`` and ``retry_at`` in it.
    timezone: str


class IceServers(Payload):
    ice_servers: list[dict[str, Any]]


class ConsentTextOut(Payload):
    id: str
    language: str
    text: str
    # The organisation's version (null: the built-in text) and the SHA-256 of ``text``.
    version: int | None = None
    sha256: str = ""


class WidgetSession(Payload):
    visitor_token: str
    expires_in: int
    ice_servers: list[dict[str, Any]]
    queues: list[QueueSummary]
    # Shown before a call in a queue that records; consent:set names the text_id answered.
    consent_texts: list[ConsentTextOut] = []


# Strict: the stars send a number; "4", 4.0 or true are refused, not coerced.
Rating = Annotated[int, Field(strict=True, ge=MIN_RATING, le=MAX_RATING)]


class RatingRequest(Payload):
    rating: Rating


class RatingOut(Payload):
    call_id: uuid.UUID
    rating: Rating


# -- socket.io events ------------------------------------------------------------------------
