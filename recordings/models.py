"""The recordings catalogue: one row per participant's recording of a call."""

from __future__ import annotations

import builtins
import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    false,
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
    # The media node whose spool holds the file (its upload loop stores it); NULL: the
    # workers' spool (the embedded default, where media runs in the signalling process).
    spool_node: Mapped[str | None] = mapped_column(String(64), index=True)
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
    # The object version the upload stored (S3's VersionId; NULL on storage without versions
    # or for rows stored before it was recorded), so deletion can name it instead of listing.
    storage_version: Mapped[str | None] = mapped_column(String(128))
    # True from just before a PUT until its version is committed, and for good once a PUT may
    # have left a version nobody recorded (a crash between PUT and commit, a failed attempt):
    # deleting such a row lists the key's versions.
    # A server default only, so inserts that predate the column (old migrations' tests) still work.
    version_unknown: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # Worker lease (docs/architecture.md, "Worker"): who holds the row and until when.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
