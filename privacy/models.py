"""Tables owned by privacy: retention rules (how long each kind of call data is kept) and
privacy requests (a visitor's erase or export by reference code)."""

from __future__ import annotations

import builtins
import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow


class RetentionKind(enum.StrEnum):
    """The kinds of data a retention rule can govern."""

    RECORDINGS = "recordings"
    TRANSCRIPTS = "transcripts"
    CALL_METADATA = "call_metadata"
    CHAT = "chat"
    # Photos sent or taken in a call (privacy.attachments).
    ATTACHMENTS = "attachments"
    # Access-log rows belong to no organisation: their retention is the installation-wide
    # LOKET_ACCESS_LOG_DAYS, and organisations cannot set rules of this kind (yet).
    ACCESS_LOG = "access_log"


MIN_RETENTION_DAYS = 1


MAX_RETENTION_DAYS = 3650


class RetentionRule(Base):
    """How many days one kind of data is kept: for a queue, or (``queue_id`` NULL) for every
    queue of the organisation that has no rule of its own.

    At most one rule per (organisation, queue, kind) and one organisation default per kind:
    two partial unique indexes, because NULLs are distinct in a plain unique constraint.
    """

    __tablename__ = "retention_rules"
    __table_args__ = (
        CheckConstraint(
            f"days >= {MIN_RETENTION_DAYS} AND days <= {MAX_RETENTION_DAYS}", name="days_in_range"
        ),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind.value}'" for kind in RetentionKind) + ")", name="known_kind"
        ),
        Index(
            "uq_retention_rules_queue_kind",
            "org_id",
            "queue_id",
            "kind",
            unique=True,
            postgresql_where=text("queue_id IS NOT NULL"),
            sqlite_where=text("queue_id IS NOT NULL"),
        ),
        Index(
            "uq_retention_rules_org_kind",
            "org_id",
            "kind",
            unique=True,
            postgresql_where=text("queue_id IS NULL"),
            sqlite_where=text("queue_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Explicit types: ``organisations`` and ``queues`` belong to signaling (see Recording.call_id).
    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )
    queue_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("queues.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PrivacyRequestKind(enum.StrEnum):
    ERASE = "erase"
    EXPORT = "export"


class PrivacyRequestStatus(enum.StrEnum):
    """received → processing → done | not_found | failed (a job on rows, docs/architecture.md "Worker")."""

    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    NOT_FOUND = "not_found"
    FAILED = "failed"


class PrivacyRequest(Base):
    """A request to erase or export one call's data, made by its visitor with the reference
    code (anonymous) or by a staff member (``requested_by``).

    The requester holds the row's id and a one-time secret, stored as its SHA-256 only. An
    export's archive is stored encrypted like a recording (``export_wrapped_key``) and is
    available until ``export_expires_at``, then shredded and deleted.
    """

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PrivacyRequestStatus.RECEIVED)
    # As typed (normalised); it matches no call when the code does not exist.
    reference: Mapped[str] = mapped_column(String(32), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Explicit types: ``calls`` and ``users`` belong to signaling (see Recording.call_id).
    call_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    # What was done (counts, never personal data), shown with the status.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(1000))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    export_storage_key: Mapped[str | None] = mapped_column(String(512))
    export_wrapped_key: Mapped[builtins.bytes | None] = mapped_column(LargeBinary)
    export_key_id: Mapped[str | None] = mapped_column(String(32))
    export_bytes: Mapped[int | None] = mapped_column(BigInteger)
    export_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
