"""Aliases other packages and the shell share with recordings."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# Called inside the transaction that makes an event true (a recording stored, a transcript
# ready): (session, organisation id, event name, payload of ids and times). The shell passes
# signaling's ``webhooks.enqueue_event``, so the webhook is owed exactly when the change is
# committed, while this package (and transcription) never import signaling.
EventHook = Callable[[AsyncSession, uuid.UUID, str, dict[str, Any]], Awaitable[object]]
