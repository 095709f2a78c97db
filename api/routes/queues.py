"""Queues of the caller's organisation: every staff member reads them, admins change them."""

from __future__ import annotations

from aiohttp import web

from accounts import directory, queries
from accounts.models import Queue
from api.admin_schemas import QueueCreate, QueueOut, QueuePatch
from api.api import ADMINS, ANY_STAFF, Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor, own_row, path_id
from privacy import require_dpa_accepted

routes = Api()


def queue_out(queue: Queue) -> QueueOut:
    return QueueOut(
        id=queue.id,
        name=queue.name,
        languages=list(queue.languages),
        opening_hours=queue.opening_hours,
        timezone=queue.timezone,
        closing_days=list(queue.closing_days or []),
        max_wait_seconds=queue.max_wait_seconds,
        recording_policy=queue.recording_policy,
        transcription=queue.transcription,
        created_at=queue.created_at,
    )


@routes.route(
    "GET",
    "/queues",
    summary="List the organisation's queues",
    tag="queues",
    response=list[QueueOut],
    roles=ANY_STAFF,
)
async def list_queues(request: web.Request) -> list[QueueOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        return [queue_out(queue) for queue in await queries.org_queues(db, claims.org_id)]


@routes.route(
    "POST",
    "/queues",
    summary="Create a queue",
    tag="queues",
    body=QueueCreate,
    response=QueueOut,
    roles=ADMINS,
    status=201,
)
async def create_queue(request: web.Request) -> QueueOut:
    claims = acting(request)
    data = body(request, QueueCreate)
    async with request.app[SESSIONS]() as db:
        if data.recording_policy == "ask" or data.transcription:
            # Recording and transcription stay off until the dpo accepted the DPA (privacy.dpa).
            await require_dpa_accepted(db, claims.org_id)
        queue = await directory.create_queue(
            db, org_id=claims.org_id, actor=actor(claims), **data.model_dump(mode="json")
        )
        await db.commit()
        return queue_out(queue)


@routes.route(
    "PATCH",
    "/queues/{queue_id}",
    summary="Change some of a queue's settings",
    tag="queues",
    body=QueuePatch,
    response=QueueOut,
    roles=ADMINS,
)
async def change_queue(request: web.Request) -> QueueOut:
    claims = acting(request)
    queue_id = path_id(request, "queue_id")
    changes = body(request, QueuePatch).changes()
    async with request.app[SESSIONS]() as db:
        queue = await own_row(db, Queue, queue_id, claims, "queue")
        if changes.get("recording_policy") == "ask" or changes.get("transcription") is True:
            await require_dpa_accepted(db, claims.org_id)
        if changes:  # an empty PATCH changes nothing and so is not audited
            await directory.change_queue(db, queue, actor=actor(claims), changes=changes)
            await db.commit()
        return queue_out(queue)


@routes.route(
    "DELETE",
    "/queues/{queue_id}",
    summary="Delete a queue (its past calls stay, without the queue)",
    tag="queues",
    roles=ADMINS,
)
async def delete_queue(request: web.Request) -> None:
    claims = acting(request)
    queue_id = path_id(request, "queue_id")
    async with request.app[SESSIONS]() as db:
        queue = await own_row(db, Queue, queue_id, claims, "queue")
        await directory.delete_queue(db, queue, actor=actor(claims))
        await db.commit()
