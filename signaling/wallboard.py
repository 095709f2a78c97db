"""The supervisor's wallboard: how many visitors wait in each queue, the longest wait, and what
each adviser is doing, read from the live state in the realtime store (the same hashes and sorted
sets the switchboard keeps, ``signaling.live``), without taking the organisation's lock.

A read without the lock may see a call between two steps of a transition (just accepted, not yet
off the waiting set): the board is a glance, refreshed every few seconds, so a figure one step
behind is corrected by the next read. Nothing here identifies a visitor: calls are counted, and
only their queue, language and wait are used.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.models import CallStatus
from signaling.state import Activity, AdviserState, CallState, Presence
from signaling.store import RealtimeStore, keys


@dataclass(frozen=True, slots=True)
class QueueLoad:
    queue_id: str
    waiting: int
    ringing: int
    longest_wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class AdviserLoad:
    user_id: str
    display_name: str
    # available | away | offline
    presence: str
    # idle | ringing | busy
    activity: str
    # Seconds since the adviser's last call ended (idle and available only), else None.
    idle_seconds: float | None


@dataclass(frozen=True, slots=True)
class Wallboard:
    queues: list[QueueLoad]
    advisers: list[AdviserLoad]


async def wallboard(store: RealtimeStore, org_id: str, *, now: float) -> Wallboard:
    """The organisation's queues that have calls waiting or ringing, and its advisers as the
    store knows them (connected now, or dropped within the resume window: offline)."""
    calls: list[CallState] = []
    for call_id, _ in await store.zrange(keys.org_waiting(org_id)):
        raw = await store.hgetall(keys.call(call_id))
        if raw:
            calls.append(CallState.from_hash(raw))
    per_queue: dict[str, list[CallState]] = {}
    for call in calls:
        per_queue.setdefault(call.queue_id, []).append(call)
    queues = [
        QueueLoad(
            queue_id=queue_id,
            waiting=sum(1 for call in waiting if call.status == CallStatus.WAITING),
            ringing=sum(1 for call in waiting if call.status == CallStatus.RINGING),
            longest_wait_seconds=round(max(now - call.joined_at for call in waiting), 1),
        )
        for queue_id, waiting in per_queue.items()
    ]
    raw_advisers = await store.hgetall(keys.advisers(org_id))
    advisers = sorted(
        (_adviser_load(AdviserState.from_json(value), now) for value in raw_advisers.values()),
        key=lambda adviser: (adviser.display_name.casefold(), adviser.user_id),
    )
    return Wallboard(queues=queues, advisers=advisers)


def _adviser_load(adviser: AdviserState, now: float) -> AdviserLoad:
    idle = (
        adviser.presence == Presence.AVAILABLE
        and adviser.activity == Activity.IDLE
        and adviser.idle_since > 0
    )
    return AdviserLoad(
        user_id=adviser.user_id,
        display_name=adviser.display_name,
        presence=adviser.presence,
        activity=adviser.activity,
        idle_seconds=round(now - adviser.idle_since, 1) if idle else None,
    )
