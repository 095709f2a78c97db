"""The recordings catalogue (one row per participant's recording of a call) and the retention
rules that set how long recordings and the other kinds of call data are kept."""

from __future__ import annotations

import builtins
import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
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


class Participant(enum.StrEnum):
    VISITOR = "visitor"
    ADVISER = "adviser"


class RecordingStatus(enum.StrEnum):
    """Where a recording is in its life.

    recording → spooled → uploading → stored → shredded; a failed upload goes back to
    spooled with a later ``next_attempt_at``. ``failed`` is final: the spool file vanished
    before it was stored, so there is nothing left to upload.
    """

    RECORDING = "recording"
    SPOOLED = "spooled"
    UPLOADING = "uploading"
    STORED = "stored"
    FAILED = "failed"
    SHREDDED = "shredded"


class Recording(Base):
    """One participant's media of one call, and where its encrypted copy is.

    ``sha256`` and ``bytes`` describe the stored ciphertext object; ``plaintext_sha256``
    the media file before encryption. ``wrapped_key`` is the data key wrapped by master key
    ``key_id``; NULL means crypto-shredded: no stored copy can be decrypted any more.
    """

    __tablename__ = "recordings"
    __table_args__ = (
        # The upload worker's query: due rows of a status, oldest first.
        Index("ix_recordings_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The type is explicit: ``calls`` belongs to signaling, which this package must not import,
    # so the foreign key cannot lend its type when signaling's models are not loaded.
    call_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    participant: Mapped[str] = mapped_column(String(16), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(512), nullable=False, unique=True)
    # Local spool file (plaintext) while not yet stored; NULL once the spool is cleared.
    spool_path: Mapped[str | None] = mapped_column(String(1024))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str | None] = mapped_column(String(64))
    plaintext_sha256: Mapped[str | None] = mapped_column(String(64))
    # builtins.bytes: the class attribute ``bytes`` (the size column) shadows the type here.
    wrapped_key: Mapped[builtins.bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=RecordingStatus.RECORDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Worker lease (DESIGN.md "Worker"): who holds the row and until when.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RetentionKind(enum.StrEnum):
    """The kinds of data a retention rule can govern."""

    RECORDINGS = "recordings"
    TRANSCRIPTS = "transcripts"
    CALL_METADATA = "call_metadata"
    CHAT = "chat"
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
    """received → processing → done | not_found | failed (a job on rows, DESIGN.md "Worker")."""

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
