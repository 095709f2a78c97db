"""Wire payloads of the staff/admin REST resources: queues, users, widget keys, calls, audit events.

The models check shape and size; what a value means (a known time zone, a valid origin, a
two-letter language) is checked once, in ``accounts.directory``, for the CLI and the API alike.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from accounts.models import RecordingPolicy, Role
from api.schemas import ConsoleLanguage, Name
from signaling.payloads import Payload

# Loose on purpose: directory.py says precisely what is wrong with a language, origin or zone.
LanguageCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]
Languages = Annotated[list[LanguageCode], Field(max_length=50)]
Origin = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Origins = Annotated[list[Origin], Field(min_length=1, max_length=50)]
TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# {"mon": [["09:00", "17:30"]], ...}; null means always open.
OpeningHours = dict[str, list[list[str]]]
# ISO dates (2026-12-25) on which the queue is closed; directory.py says what is wrong with one.
ClosingDays = Annotated[list[Annotated[str, StringConstraints(max_length=20)]], Field(max_length=400)]
# The longest a visitor waits before being told when to try again, up to a day; null: no limit.
MaxWait = Annotated[int, Field(ge=1, le=86400)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
Limit = Annotated[int, Field(ge=1, le=200)]


class Patch(Payload):
    """A partial update: a field left out stays as it is. ``null`` is accepted only for the
    fields named in ``nullable`` (where empty means something, like "always open")."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> Self:
        for name in sorted(self.model_fields_set - self.nullable):
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out, but not null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent, as JSON-ready values."""
        return self.model_dump(mode="json", exclude_unset=True)


# -- queues ----------------------------------------------------------------------------------


class QueueCreate(Payload):
    name: Name
    languages: Languages = []
    opening_hours: OpeningHours | None = None
    timezone: TimeZone = "Europe/Amsterdam"
    closing_days: ClosingDays = []
    max_wait_seconds: MaxWait | None = None
    recording_policy: RecordingPolicy = RecordingPolicy.OFF
    transcription: bool = False


class QueuePatch(Patch):
    nullable = frozenset({"opening_hours", "max_wait_seconds"})

    name: Name | None = None
    languages: Languages | None = None
    opening_hours: OpeningHours | None = None
    timezone: TimeZone | None = None
    closing_days: ClosingDays | None = None
    max_wait_seconds: MaxWait | None = None
    recording_policy: RecordingPolicy | None = None
    transcription: bool | None = None


class QueueOut(Payload):
    id: uuid.UUID
    name: str
    languages: list[str]
    opening_hours: OpeningHours | None
    timezone: str
    closing_days: list[str]
    max_wait_seconds: int | None
    recording_policy: str
    transcription: bool
    created_at: datetime


# -- users -----------------------------------------------------------------------------------


class UserCreate(Payload):
    email: Email
    role: Role
    password: Password
    display_name: Name | None = None
    languages: Languages = []
    queue_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []
    # The location whose address ranges this member may work from; none: anywhere.
    location_id: uuid.UUID | None = None


class UserPatch(Patch):
    nullable = frozenset({"location_id", "ui_language"})

    role: Role | None = None
    active: bool | None = None
    display_name: Name | None = None
    languages: Languages | None = None
    queue_ids: Annotated[list[uuid.UUID], Field(max_length=200)] | None = None
    password: Password | None = None
    location_id: uuid.UUID | None = None
    ui_language: ConsoleLanguage | None = None


class UserOut(Payload):
    """A staff member as other staff see them: never the password hash or TOTP secret."""

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    active: bool
    languages: list[str]
    # Empty means the adviser serves every queue of the organisation.
    queue_ids: list[uuid.UUID]
    totp_enabled: bool
    created_at: datetime
    location_id: uuid.UUID | None = None
    # The consoles' language; null follows the browser's.
    ui_language: ConsoleLanguage | None = None


# -- widget keys -----------------------------------------------------------------------------


# Context keys the host page may pass (accounts.context checks their form and number).
ContextKeys = Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)]


class WidgetKeyCreate(Payload):
    origins: Origins
    context_keys: ContextKeys = []


class WidgetKeyPatch(Patch):
    origins: Origins | None = None
    active: bool | None = None
    context_keys: ContextKeys | None = None


class WidgetKeyOut(Payload):
    id: uuid.UUID
    key: str
    origins: list[str]
    context_keys: list[str]
    active: bool
    created_at: datetime
    # The one tag a website pastes into its pages.
    embed_snippet: str


# -- calls -----------------------------------------------------------------------------------


class PageQuery(Payload):
    limit: Limit = 50
    # Only rows created strictly before this instant (pass the oldest ``created_at`` seen).
    before: AwareDatetime | None = None


class KeysetQuery(PageQuery):
    """Pages over ``(created_at, id)``, newest first: pass the last row's ``created_at`` as
    ``before`` and its ``id`` as ``before_id`` and the next page starts right after it, also
    when rows share a timestamp (``before`` alone skips the rest of that instant's rows)."""

    before_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _before_id_needs_before(self) -> Self:
        if self.before_id is not None and self.before is None:
            raise ValueError("before_id goes with before (the same row's created_at)")
        return self


class CallOut(Payload):
    id: uuid.UUID
    queue_id: uuid.UUID | None
    adviser_id: uuid.UUID | None
    # The call's reference for staff; not a credential (privacy requests take the visitor's
    # privacy key, which staff never see).
    reference: str
    language: str | None
    status: str
    end_reason: str | None
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    # From joining the queue to being answered (or to giving up); null while still waiting.
    waited_seconds: float | None
    # The call's transcript, once transcription has taken it up (pending, done or failed).
    transcript_id: uuid.UUID | None = None
    transcript_status: str | None = None


# -- audit events ----------------------------------------------------------------------------


class AuditEventsQuery(Payload):
    limit: Limit = 50
    # Only events older than this sequence number (pass the smallest ``seq`` seen).
    before_seq: Annotated[int, Field(ge=1)] | None = None


class AuditEventOut(Payload):
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str
    prev_hash: str


# -- transcripts -----------------------------------------------------------------------------


class TranscriptQuery(Payload):
    # "vtt" answers with the WebVTT file (text/vtt) instead of the JSON document.
    format: Literal["json", "vtt"] = "json"


class TranscriptSegmentOut(Payload):
    start: float
    end: float
    speaker: str | None
    text: str


class TranscriptOut(Payload):
    id: uuid.UUID
    call_id: uuid.UUID
    # pending, done or failed (then ``error`` says why)
    status: str
    language: str | None
    model: str | None
    redacted: bool
    error: str | None
    segments: list[TranscriptSegmentOut] | None
    legal_hold: bool
    created_at: datetime
    completed_at: datetime | None
    delete_after: datetime | None
