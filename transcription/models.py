"""The transcripts table: one speaker-labelled transcript per recorded call, and the job row
the worker claims to make it (docs/architecture.md, "Worker": jobs are rows)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow


class TranscriptStatus(enum.StrEnum):
    """pending → done | failed. ``failed`` is final and carries the reason (a malformed file,
    a decoder killed by its limits, "gave_up" after ``attempts`` claims that each ended with the
    worker gone); a worker that dies mid-job leaves it pending under a lease."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Transcript(Base):
    """The merged timeline of a call's per-participant recordings ("Visitor"/"Adviser").

    ``segments`` is the JSON form ([{start, end, speaker, text}]), ``vtt`` the WebVTT form,
    both redacted before storing when ``redacted`` is true, and both sealed with the call's
    data key (``privacy.call_keys``: ``segments`` then holds a sealed JSON string). Kept until
    ``delete_after`` (retention kind "transcripts") unless on legal hold; erased with the call.
    """

    __tablename__ = "transcripts"
    __table_args__ = (Index("ix_transcripts_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Explicit type: ``calls`` belongs to signaling (see recordings.models.Recording.call_id).
    call_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=TranscriptStatus.PENDING)
    language: Mapped[str | None] = mapped_column(String(8))
    model: Mapped[str | None] = mapped_column(String(200))
    segments: Mapped[list[dict[str, Any]] | str | None] = mapped_column(JSON)
    vtt: Mapped[str | None] = mapped_column(Text)
    redacted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(String(1000))
    # Claims so far, counted when claimed (a crash counts; a clean stop gives its attempt back).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
