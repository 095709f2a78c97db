"""Tables owned by signaling: calls, consents, chat messages."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow


class CallStatus(enum.StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"
    ABANDONED = "abandoned"


# The visitor's optional rating of an answered call (the widget's stars).
MIN_RATING = 1
MAX_RATING = 5


class Call(Base):
    """One visitor's call from joining the queue to its end. Holds no visitor PII."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_org_created", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )
    queue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    adviser_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reference: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    # The random subject of the visitor token: links the call to its access-log rows for erasure.
    visitor_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CallStatus.WAITING)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the host page said (allowlisted keys, short non-personal values; signaling.context):
    # call metadata, kept and erased with the row.
    context: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # 1..5 stars from the visitor once the answered call has ended (signaling.rating); call
    # metadata, not personal data, and erased with the row.
    rating: Mapped[int | None] = mapped_column(
        SmallInteger,
        CheckConstraint(f"rating >= {MIN_RATING} AND rating <= {MAX_RATING}", name="rating_in_range"),
    )
    # Transfers completed (to a queue, or accepted by another adviser); each attempt is a
    # ``CallTransfer`` row. Kept as a count too, so statistics sum it without a join.
    transfers: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0, server_default="0")


class TransferOutcome(enum.StrEnum):
    QUEUED = "queued"  # put at the front of another queue
    RINGING = "ringing"  # ringing the adviser it was transferred to
    ACCEPTED = "accepted"
    DECLINED = "declined"
    RING_TIMEOUT = "ring_timeout"
    ADVISER_LEFT = "adviser_left"
    CALL_ENDED = "call_ended"  # ended while the transfer rang


class CallTransfer(Base):
    """One transfer of a call by its adviser, to a queue or to another adviser (``call:transfer``).
    Call metadata: no note, no visitor data; erased with the call."""

    __tablename__ = "call_transfers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_adviser_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_queue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    to_adviser_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Consent(Base):
    """A party's answer to a consent text, kept with the exact text's hash as proof."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    party: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="recording")
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    text_id: Mapped[str] = mapped_column(String(100), nullable=False)
    text_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    language: Mapped[str | None] = mapped_column(String(8))
    # The organisation's text version answered (signaling.consent_texts); null: the built-in text.
    text_version: Mapped[int | None] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrgConsentText(Base):
    """One version of an organisation's consent wording in one language. Rows are never
    changed: editing publishes the next version, so every stored answer's text stays provable."""

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("org_id", "kind", "language", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="recording")
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ChatMessage(Base):
    """One chat line of a call, as typed by a party. Kept until ``delete_after`` (retention
    kind "chat"), erased with the call."""

    __tablename__ = "chat_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    party: Mapped[str] = mapped_column(String(16), nullable=False)
    # Sealed with the call's data key (privacy.call_keys): crypto-shredding covers the chat.
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
