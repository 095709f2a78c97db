"""The queue: the order calls wait in, each waiting visitor's position and ETA, and what
advisers see waiting.

A call waits in two sorted sets by join time: its queue's (``keys.queue_waiting``, for the
position) and its organisation's (``keys.org_waiting``, the order ``signaling.ringing``
dispatches in over all queues).

ETA: ``eta_seconds = ceil(position * mean_handle_time / staffed)`` where ``staffed`` is
the number of connected, available advisers serving the queue and language (in a call or
not) and ``mean_handle_time`` is an exponential moving average (weight 0.2) of the queue's
answered call durations, starting from ``default_handle_seconds``. With nobody staffed the
ETA is ``null``: we do not promise what we cannot estimate.

Updates that scale. A visitor hears ``queue:position`` only when their position or ETA
changed, at most once per ``queue_update_seconds`` (1 s), and an adviser a ``queue:snapshot``
at most as often:

- a visitor who joins gets their own figures at once (the acknowledgement carries the
  position, the event the ETA); a join at the tail moves nobody else, so nobody else hears of it;
- anything else that may move figures (a call leaving the queue, staffing, the handle time)
  marks the organisation's queues *dirty* (``keys.DIRTY_QUEUES``, due no sooner than a second
  after their last update, ``keys.UPDATES_SENT``); the tick of whichever node takes a due
  entry off the set computes the queue's figures once, compares them with those last sent
  (``keys.position_sent``) and tells only the visitors whose figures differ;
- what advisers see waiting is marked dirty the same way per organisation
  (``keys.DIRTY_SNAPSHOTS``) and sent by the tick.

So a join costs a few store operations whatever the length of the queue, and a change costs
one read of the queue per second plus one event per visitor it moved.

Callers hold the organisation's lock (``signaling.live``), except ``flush``, which takes it.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable
from typing import Any

from signaling.config import SignalingConfig
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.state import AdviserState, CallState, Presence
from signaling.store import keys

logger = logging.getLogger(__name__)

AHT_WEIGHT = 0.2


def _figures(position: int, eta: int | None, language: str, visitor: str) -> str:
    """What ``keys.position_sent`` keeps of a waiting call: the figures it was last sent, and
    what computing them again takes (its language, its visitor)."""
    return f"{position}|{'' if eta is None else eta}|{language}|{visitor}"


def _parse(raw: str) -> tuple[int, int | None, str, str]:
    position, eta, language, visitor = raw.split("|", 3)
    return int(position), int(eta) if eta else None, language, visitor


def _staffed(advisers: dict[str, AdviserState], queue_id: str, language: str) -> int:
    """Connected, available advisers serving the queue and language (in a call or not)."""
    return sum(
        1
        for a in advisers.values()
        if a.presence == Presence.AVAILABLE
        and (a.queues is None or queue_id in a.queues)
        and not (language and a.languages and language not in a.languages)
    )


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
        await self._store.hset(keys.org_queues(call.org_id), {call.queue_id: "1"})

    async def add_front(self, call: CallState) -> None:
        """Put a transferred call before every call waiting in its queue (and first in the
        organisation's dispatch order); calls transferred later go behind it."""
        firsts = [
            ranked[0][1]
            for ranked in (
                await self._store.zrange(keys.queue_waiting(call.queue_id)),
                await self._store.zrange(keys.org_waiting(call.org_id)),
            )
            if ranked
        ]
        score = min([call.joined_at, *firsts]) - 1.0
        await self._store.zadd(keys.queue_waiting(call.queue_id), call.id, score)
        await self._store.zadd(keys.org_waiting(call.org_id), call.id, score)
        await self._store.hset(keys.org_queues(call.org_id), {call.queue_id: "1"})
        await self._mark(keys.DIRTY_QUEUES, keys.org_member(call.org_id, call.queue_id))

    async def remove(self, call: CallState) -> None:
        """Take the call out of its queue; the visitors behind it move up (at the next flush)."""
        if await self._store.zrem(keys.queue_waiting(call.queue_id), call.id):
            await self._mark(keys.DIRTY_QUEUES, keys.org_member(call.org_id, call.queue_id))
        await self._store.zrem(keys.org_waiting(call.org_id), call.id)
        await self._store.hdel(keys.position_sent(call.queue_id), call.id)
        await self._store.zrem(keys.WAIT_DEADLINES, keys.org_member(call.org_id, call.id))

    async def waiting_ids(self, org_id: str, queue_ids: set[str] | None = None) -> list[str]:
        """The organisation's waiting (and ringing) call ids, the one that joined first first;
        only those of ``queue_ids`` when given (their queues' sets merged by join time, so calls
        waiting in other queues cost nothing)."""
        if queue_ids is None:
            return [call_id for call_id, _ in await self._store.zrange(keys.org_waiting(org_id))]
        queues = [await self._store.zrange(keys.queue_waiting(q)) for q in sorted(queue_ids)]
        return [call_id for call_id, _ in heapq.merge(*queues, key=lambda item: (item[1], item[0]))]

    async def waiting(self, org_id: str, queue_ids: set[str] | None = None) -> list[CallState]:
        return [
            call
            for call_id in await self.waiting_ids(org_id, queue_ids)
            if (call := await self._live.call(call_id)) is not None
        ]

    async def position(self, call: CallState) -> int:
        """1 for the first in its queue; 0 when it no longer waits."""
        rank = await self._store.zrank(keys.queue_waiting(call.queue_id), call.id)
        return 0 if rank is None else rank + 1

    async def handle_time(self, queue_id: str) -> float:
        raw = await self._store.get(keys.handle_time(queue_id))
        return float(raw) if raw else self._config.default_handle_seconds

    async def learn_handle_time(self, queue_id: str, duration: float) -> None:
        mean = await self.handle_time(queue_id)
        await self._store.set(
            keys.handle_time(queue_id), str((1 - AHT_WEIGHT) * mean + AHT_WEIGHT * duration)
        )

    # -- updates ---------------------------------------------------------------------------

    async def joined(self, call: CallState, mail: Mail) -> int:
        """Tell the visitor who just joined their figures; returns their position. Nobody
        else's figures moved, so nobody else is told; advisers see the call at the next flush."""
        position = await self.position(call)
        advisers = await self._live.advisers(call.org_id)
        eta = self._eta(
            position, await self.handle_time(call.queue_id), _staffed(advisers, call.queue_id, call.language)
        )
        await self._store.hset(
            keys.position_sent(call.queue_id), {call.id: _figures(position, eta, call.language, call.visitor)}
        )
        mail.append(
            (visitor_session(call.visitor), "queue:position", {"position": position, "eta_seconds": eta})
        )
        await self._mark(keys.DIRTY_SNAPSHOTS, call.org_id)
        return position

    async def changed(self, org_id: str, mail: Mail) -> None:
        """Figures of the organisation's waiting visitors may have moved (staffing, the handle
        time, a call gone): recompute them, and what advisers see, at the next flush.

        ``mail`` is not used: the updates go out from ``flush``, coalesced."""
        for queue_id in await self._store.hgetall(keys.org_queues(org_id)):
            await self._mark(keys.DIRTY_QUEUES, keys.org_member(org_id, queue_id))
        await self._mark(keys.DIRTY_SNAPSHOTS, org_id)

    async def flush(self, now: float) -> None:
        """Send the updates that are due by ``now`` (every node's tick calls this; the node
        whose removal of a due entry succeeds sends it)."""
        for member in await self._store.zrangebyscore(keys.DIRTY_QUEUES, now):
            if await self._store.zrem(keys.DIRTY_QUEUES, member):
                await self._flush_one(keys.DIRTY_QUEUES, member, now)
        for org_id in await self._store.zrangebyscore(keys.DIRTY_SNAPSHOTS, now):
            if await self._store.zrem(keys.DIRTY_SNAPSHOTS, org_id):
                await self._flush_one(keys.DIRTY_SNAPSHOTS, org_id, now)

    async def _flush_one(self, dirty: str, member: str, now: float) -> None:
        org_id, queue_id = keys.split_org_member(member) if dirty == keys.DIRTY_QUEUES else (member, "")
        mail: Mail = []
        try:
            async with self._live.locked(org_id):
                if queue_id:
                    await self._positions(org_id, queue_id, mail)
                else:
                    await self._snapshots(org_id, mail)
                await self._store.hset(keys.UPDATES_SENT, {member: repr(now)})
        except Exception:
            # Put it back: taken off and dropped, the visitors would keep stale figures.
            logger.exception("could not send queue updates; trying again on the next tick")
            await self._store.zadd(dirty, member, now)
        finally:
            await self._live.deliver(mail)

    async def _mark(self, dirty: str, member: str) -> None:
        """Due now, or a second after the last update when that was less than a second ago."""
        last = await self._store.hget(keys.UPDATES_SENT, member)
        due = self._clock()
        if last is not None:
            due = max(due, float(last) + self._config.queue_update_seconds)
        await self._store.zadd(dirty, member, due)

    async def _positions(self, org_id: str, queue_id: str, mail: Mail) -> None:
        """Tell each visitor of the queue whose position or ETA differs from what they last heard."""
        waiting = [call_id for call_id, _ in await self._store.zrange(keys.queue_waiting(queue_id))]
        if not waiting:
            return
        sent = await self._store.hgetall(keys.position_sent(queue_id))
        advisers = await self._live.advisers(org_id)
        handle_time = await self.handle_time(queue_id)
        changed: dict[str, str] = {}
        for index, call_id in enumerate(waiting):
            if call_id not in sent:
                continue  # joined meanwhile: told by ``joined``
            old_position, old_eta, language, visitor = _parse(sent[call_id])
            position = index + 1
            eta = self._eta(position, handle_time, _staffed(advisers, queue_id, language))
            if (position, eta) != (old_position, old_eta):
                changed[call_id] = _figures(position, eta, language, visitor)
                update = {"position": position, "eta_seconds": eta}
                mail.append((visitor_session(visitor), "queue:position", update))
        if changed:
            await self._store.hset(keys.position_sent(queue_id), changed)

    async def _snapshots(self, org_id: str, mail: Mail) -> None:
        advisers = [a for a in (await self._live.advisers(org_id)).values() if a.presence != Presence.OFFLINE]
        if not advisers:
            return
        # Only the queues someone connected serves: a backlog nobody here serves is not read
        # every second (an adviser's snapshot lists only the calls they serve).
        served = (
            None if any(a.queues is None for a in advisers) else {q for a in advisers for q in a.queues or []}
        )
        calls = await self.waiting(org_id, served)
        for adviser in advisers:
            mail.append(
                (
                    adviser_session(adviser.user_id),
                    "queue:snapshot",
                    await self.snapshot(org_id, adviser, calls),
                )
            )

    @staticmethod
    def _eta(position: int, handle_time: float, staffed: int) -> int | None:
        return math.ceil(position * handle_time / staffed) if staffed else None

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
