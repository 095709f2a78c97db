"""What the shell hands privacy and gets back: the ``data.erased`` report and its hook."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class DataErased:
    """A completed erasure, as the ``data.erased`` webhook reports it: ids, counts and times,
    no visitor data (not even the reference code, see the ``webhooks`` package)."""

    org_id: uuid.UUID
    request_id: uuid.UUID
    call_id: uuid.UUID
    requested_by: str
    counts: Mapping[str, int]
    requested_at: datetime
    erased_at: datetime

    def __post_init__(self) -> None:
        if self.requested_by not in ("visitor", "staff"):
            raise ValueError("requested_by is visitor or staff")

    def payload(self) -> dict[str, Any]:
        return {
            "request_id": str(self.request_id),
            "call_id": str(self.call_id),
            "requested_by": self.requested_by,
            "counts": dict(self.counts),
            "requested_at": self.requested_at.isoformat(),
            "erased_at": self.erased_at.isoformat(),
        }


# Called inside the transaction that marks the erasure done (the caller commits).
OnErased = Callable[[AsyncSession, DataErased], Awaitable[None]]
