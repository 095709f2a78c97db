"""What signaling tells webhook subscribers about a call: ids, outcome and times only, never the
reference or visitor data (see the ``webhooks`` package)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signaling.state import CallState


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


def call_ended_payload(call: CallState, *, outcome: str, reason: str, ended_at: float) -> dict[str, Any]:
    """``call.ended`` data: ids, outcome and times only (see the module doc on the reference)."""
    return {
        "call_id": call.id,
        "queue_id": call.queue_id or None,
        "outcome": str(outcome),
        "reason": reason,
        "joined_at": _iso(call.joined_at),
        "accepted_at": _iso(call.accepted_at),
        "ended_at": _iso(ended_at),
    }
