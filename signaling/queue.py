"""The queue: the order calls wait in, each waiting visitor's position and ETA, and what
advisers see waiting.

A call waits in two sorted sets by join time: its queue's (``keys.queue_waiting``, for the
position) and its organisation's (``keys.org_waiting``, the order ``signaling.ringing``
dispatches in over all queues).

ETA: ``eta_seconds = ceil(position * mean_handle_time / staffed)`` where ``staffed`` is
the number of connected, available advisers serving the queue (in a call or not) and
``mean_handle_time`` is an exponential moving average (weight 0.2) of the queue's
answered call durations, starting from ``default_handle_seconds``. With nobody staffed
the ETA is ``null``: we do not promise what we cannot estimate.

Callers hold the organisation's lock (``signaling.live``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from signaling.config import SignalingConfig
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.state import AdviserState, CallState, Presence
from signaling.store import keys

AHT_WEIGHT = 0.2


class Queue:
    """Waiting calls in join order, positions, handle times and the ETA."""

    def __init__(self, *, live: LiveState, config: SignalingConfig, clock: Callable[[], float]) -> None:
        self._live = live
        self._store = live.store
        self._config = config
        self._clock = clock

    async def add(self, call: CallState) -> None:
        await self._store.zadd(keys.queue_waiting(call.queue_id), call.id, call.joined_at)
        await self._store.zadd(keys.org_waiting(call.org_id), call.id, call.joined_at)

    async def remove(self, call: CallState) -> None:
        await self._store.zrem(keys.queue_waiting(call.queue_id), call.id)
        await self._store.zrem(keys.org_waiting(call.org_id), call.id)

    async def waiting_ids(self, org_id: str) -> list[str]:
        """The organisation's waiting (and ringing) call ids, the one that joined first first."""
        return [call_id for call_id, _ in await self._store.zrange(keys.org_waiting(org_id))]

    async def waiting(self, org_id: str) -> list[CallState]:
        return [
            call
            for call_id in await self.waiting_ids(org_id)
            if (call := await self._live.call(call_id)) is not None
        ]

    async def position(self, call: CallState) -> int:
        """1 for the first in its queue; 0 when it no longer waits."""
        members = [member for member, _ in await self._store.zrange(keys.queue_waiting(call.queue_id))]
        return members.index(call.id) + 1 if call.id in members else 0

    async def handle_time(self, queue_id: str) -> float:
        raw = await self._store.get(keys.handle_time(queue_id))
        return float(raw) if raw else self._config.default_handle_seconds

    async def learn_handle_time(self, queue_id: str, duration: float) -> None:
        mean = await self.handle_time(queue_id)
        await self._store.set(
            keys.handle_time(queue_id), str((1 - AHT_WEIGHT) * mean + AHT_WEIGHT * duration)
        )

    async def changed(self, org_id: str, mail: Mail) -> None:
        """Tell every waiting visitor their position and ETA, and every adviser what is waiting."""
        advisers = await self._live.advisers(org_id)
        calls = await self.waiting(org_id)
        for call in calls:
            position = await self.position(call)
            staffed = sum(1 for a in advisers.values() if a.presence == Presence.AVAILABLE and a.serves(call))
            eta = None
            if staffed:
                eta = math.ceil(position * await self.handle_time(call.queue_id) / staffed)
            mail.append(
                (visitor_session(call.visitor), "queue:position", {"position": position, "eta_seconds": eta})
            )
        for adviser in advisers.values():
            if adviser.presence != Presence.OFFLINE:
                mail.append(
                    (
                        adviser_session(adviser.user_id),
                        "queue:snapshot",
                        await self.snapshot(org_id, adviser, calls),
                    )
                )

    async def snapshot(
        self, org_id: str, adviser: AdviserState, calls: list[CallState] | None = None
    ) -> dict[str, Any]:
        """What ``adviser`` sees: the waiting calls they serve, their presence and activity."""
        if calls is None:
            calls = await self.waiting(org_id)
        now = self._clock()
        waiting = [
            {
                "call_id": call.id,
                "queue_id": call.queue_id,
                "language": call.language or None,
                "status": call.status,
                "waited_seconds": round(now - call.joined_at, 1),
            }
            for call in calls
            if adviser.serves(call)
        ]
        return {"waiting": waiting, "presence": adviser.presence, "activity": adviser.activity}
