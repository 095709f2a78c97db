"""Enqueueing events: one delivery row per subscribed endpoint, in the caller's transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import new_id, utcnow
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent


async def enqueue_event(
    db: AsyncSession, org_id: uuid.UUID, event: WebhookEvent | str, payload: dict[str, Any]
) -> int:
    """Owe ``event`` to every active endpoint of ``org_id`` subscribed to it: one delivery row
    each, written in the caller's transaction (the caller commits). Returns how many.

    ``payload`` must be JSON-ready and hold no visitor data (ids, codes of outcome,
    timestamps). Called by the switchboard for ``call.ended``; the recording, transcription
    and retention code call it for the other events.
    """
    name = WebhookEvent(event).value
    data: dict[str, Any] = json.loads(json.dumps(payload))  # fails here, not in the worker
    endpoints = await db.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.active.is_(True)
        )
    )
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "endpoint_id": endpoint_id,
            "event": name,
            "idempotency_key": uuid.uuid4(),
            "payload": data,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id, events in endpoints
        if name in events
    ]
    if rows:
        await db.execute(insert(WebhookDelivery), rows)
    return len(rows)
