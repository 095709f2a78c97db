"""Tables owned by accounts: organisations, locations, staff, queues and who serves them,
widget keys, refresh tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Uuid,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow


class Role(enum.StrEnum):
    ADVISER = "adviser"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DPO = "dpo"


# Roles that take calls; a DPO audits data and never answers visitors.
CALL_TAKING_ROLES = frozenset({Role.ADVISER, Role.SUPERVISOR, Role.ADMIN})


class RecordingPolicy(enum.StrEnum):
    OFF = "off"
    ASK = "ask"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Replace phone numbers, e-mail addresses, IBANs and licence plates in transcripts before
    # they are stored (transcription.redaction). On unless an admin turns it off.
    redact_transcripts: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Location(Base):
    """A site of an organisation; staff assigned to it may only log in from its IP ranges."""

    __tablename__ = "locations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # CIDR strings; an empty list allows every address.
    ip_allowlist: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)


# The languages the staff consoles speak (widget/src/staff/texts), in the order they are offered.
CONSOLE_LANGUAGES = ("nl", "de", "fr", "en")


class User(Base):
    """A staff member. Visitors are never users: they have no row at all."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    # Sealed with a key derived from the master key (accounts.totp).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    # Languages the adviser speaks (ISO 639-1); empty means any.
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # The language of the staff consoles (nl, de, fr, en); None follows the browser's.
    ui_language: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# Which advisers serve which queue. An adviser with no rows here serves every queue of
# their organisation, so a small shop needs no configuration.
queue_advisers = Table(
    "queue_advisers",
    Base.metadata,
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # {"mon": [["09:00", "17:00"]], ...} in ``timezone``; null means always open.
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="Europe/Amsterdam")
    # Holidays and other closing days, ISO dates in ``timezone`` (accounts.hours).
    closing_days: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # A visitor who waited this long is told when to try again and taken out (signaling.wait_limit).
    max_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    recording_policy: Mapped[str] = mapped_column(String(10), nullable=False, default=RecordingPolicy.OFF)
    transcription: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WidgetKey(Base):
    """A public key put in the embed snippet; it binds a page's origin to an organisation."""

    __tablename__ = "widget_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    origins: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    # Context keys the host page may pass (``Loket.open({context})``); none by default.
    context_keys: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RefreshToken(Base):
    """A staff refresh token, stored as its SHA-256 only. Tokens rotate within a family:
    presenting a token that was already rotated revokes the whole family (RFC 6819 §5.2.2.3)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
