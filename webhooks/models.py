"""Tables of the outgoing webhooks: an organisation's endpoints and the deliveries owed to them.

A delivery row is the job (docs/architecture.md, "Worker"): it is written in the same transaction as the
event it reports, claimed by a worker with a lease, and kept afterwards as the attempt history
admins read through ``/api/v1/webhooks/{id}/deliveries``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, new_id, utcnow


class WebhookEvent(enum.StrEnum):
    CALL_ENDED = "call.ended"
    RECORDING_STORED = "recording.stored"
    TRANSCRIPT_READY = "transcript.ready"
    DATA_ERASED = "data.erased"


class DeliveryStatus(enum.StrEnum):
    """pending → delivered (a 2xx answer), or → failed after the last allowed attempt."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """Where an organisation wants to hear about events, and the secret its requests are signed with.

    ``secret`` is kept because every request is signed with it (an HMAC key cannot be stored
    hashed). It is shown once, in the answer to its creation, and never again: no API answer,
    audit event, log line or error message carries it, and ``__repr__`` leaves it out.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The type is explicit so the column does not depend on signaling.models being loaded first.
    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    # Sealed with a key derived from the master key (``webhooks.secrets``); read it with ``reveal``.
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    # Names of the WebhookEvent values this endpoint is sent.
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"WebhookEndpoint(id={self.id}, org_id={self.org_id}, active={self.active})"


class WebhookDelivery(Base):
    """One event owed to one endpoint, and how its attempts went.

    ``idempotency_key`` stays the same across retries, so a receiver that got a request
    whose answer was lost can recognise the retry. ``last_error`` is written by the sender
    from fixed phrases (never a response body, a URL or a secret).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sender's query: due rows of a status, oldest first.
        Index("ix_webhook_deliveries_status_next_attempt", "status", "next_attempt_at"),
        # The admin's query: an endpoint's deliveries, newest first.
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    idempotency_key: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When the next attempt is due; NULL once delivered or failed for good.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Worker lease (docs/architecture.md, "Worker"): who is sending the row and until when.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
