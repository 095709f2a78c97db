"""The supervisor's wallboard: every queue with the visitors waiting and ringing in it and the
longest wait, and each adviser's presence and activity, from the live state
(``signaling.wallboard``). The admin console asks for it every few seconds."""

from __future__ import annotations

import time
import uuid

from aiohttp import web
from sqlalchemy import select

from accounts.models import Queue, Role
from api.api import Api
from api.keys import SESSIONS, STORE
from api.routes._common import acting
from signaling.payloads import Payload
from signaling.wallboard import wallboard

routes = Api()

WALLBOARD_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN})


class QueueBoard(Payload):
    queue_id: uuid.UUID
    name: str
    waiting: int
    ringing: int
    # Seconds the visitor who joined first has waited; null when nobody waits.
    longest_wait_seconds: float | None


class AdviserBoard(Payload):
    user_id: uuid.UUID
    display_name: str
    presence: str
    activity: str
    idle_seconds: float | None


class WallboardOut(Payload):
    queues: list[QueueBoard]
    advisers: list[AdviserBoard]
    # The longest wait over all queues; null when nobody waits.
    longest_wait_seconds: float | None


@routes.route(
    "GET",
    "/wallboard",
    summary="Visitors waiting and ringing per queue with the longest wait, and each connected "
    "adviser's presence and activity, now",
    tag="statistics",
    response=WallboardOut,
    roles=WALLBOARD_READERS,
)
async def get_wallboard(request: web.Request) -> WallboardOut:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        queues = (
            await db.execute(
                select(Queue.id, Queue.name).where(Queue.org_id == claims.org_id).order_by(Queue.name)
            )
        ).all()
    board = await wallboard(request.app[STORE], str(claims.org_id), now=time.time())
    load = {row.queue_id: row for row in board.queues}
    shown = []
    for queue_id, name in queues:
        found = load.get(str(queue_id))
        shown.append(
            QueueBoard(
                queue_id=queue_id,
                name=name,
                waiting=found.waiting if found else 0,
                ringing=found.ringing if found else 0,
                longest_wait_seconds=found.longest_wait_seconds if found else None,
            )
        )
    waits = [queue.longest_wait_seconds for queue in shown if queue.longest_wait_seconds is not None]
    return WallboardOut(
        queues=shown,
        advisers=[
            AdviserBoard(
                user_id=uuid.UUID(adviser.user_id),
                display_name=adviser.display_name,
                presence=adviser.presence,
                activity=adviser.activity,
                idle_seconds=adviser.idle_seconds,
            )
            for adviser in board.advisers
        ],
        longest_wait_seconds=max(waits) if waits else None,
    )
