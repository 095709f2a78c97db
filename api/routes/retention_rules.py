"""Retention rules of the caller's organisation: admins set them, the DPO reads them.

Each change is audited and reschedules, in the same transaction, the deletion deadline of
every recording it governs (``recordings.reschedule``). Access-log retention is not an
organisation's to set: access-log rows belong to no organisation (``LOKET_ACCESS_LOG_DAYS``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import Field
from sqlalchemy.exc import IntegrityError

import privacy
from accounts.models import Role
from api.api import ADMINS, Api, body
from api.keys import SESSIONS
from api.routes._common import acting, actor, path_id
from db.errors import Conflict, InvalidInput, NotFound
from privacy import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionKind, RetentionRule
from signaling.payloads import Payload

routes = Api()

RULE_READERS = frozenset({Role.ADMIN, Role.DPO})
Days = Annotated[int, Field(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS, strict=True)]


class RetentionRuleCreate(Payload):
    kind: RetentionKind
    days: Days
    # Left out or null: the organisation's default for every queue without a rule of its own.
    queue_id: uuid.UUID | None = None


class RetentionRulePatch(Payload):
    days: Days


class RetentionRuleOut(Payload):
    id: uuid.UUID
    queue_id: uuid.UUID | None
    kind: str
    days: int
    created_at: datetime
    updated_at: datetime


def rule_out(rule: RetentionRule) -> RetentionRuleOut:
    return RetentionRuleOut(
        id=rule.id,
        queue_id=rule.queue_id,
        kind=rule.kind,
        days=rule.days,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _taken(data: RetentionRuleCreate) -> Conflict:
    scope = f"queue {data.queue_id}" if data.queue_id else "the organisation"
    return Conflict(
        f"{scope} already has a {data.kind.value} rule; change that one", code="retention_rule_exists"
    )


@routes.route(
    "GET",
    "/retention-rules",
    summary="List the organisation's retention rules (what has none follows the built-in defaults)",
    tag="retention-rules",
    response=list[RetentionRuleOut],
    roles=RULE_READERS,
)
async def list_retention_rules(request: web.Request) -> list[RetentionRuleOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        return [rule_out(rule) for rule in await privacy.list_rules(db, claims.org_id)]


@routes.route(
    "POST",
    "/retention-rules",
    summary="Create a retention rule for the organisation or one of its queues",
    tag="retention-rules",
    body=RetentionRuleCreate,
    response=RetentionRuleOut,
    roles=ADMINS,
    status=201,
)
async def create_retention_rule(request: web.Request) -> RetentionRuleOut:
    claims = acting(request)
    data = body(request, RetentionRuleCreate)
    if data.kind not in privacy.ORG_RETENTION_KINDS:
        raise InvalidInput(
            "kind: access-log rows belong to no organisation; their retention is the "
            "installation's LOKET_ACCESS_LOG_DAYS"
        )
    async with request.app[SESSIONS]() as db:
        if data.queue_id is not None and not await privacy.queue_in_org(db, claims.org_id, data.queue_id):
            raise InvalidInput(f"queue_id: no queue {data.queue_id} in this organisation")
        if await privacy.find_rule(db, claims.org_id, data.queue_id, data.kind) is not None:
            raise _taken(data)
        try:
            rule = await privacy.create_rule(
                db,
                org_id=claims.org_id,
                queue_id=data.queue_id,
                kind=data.kind,
                days=data.days,
                actor=actor(claims),
            )
            await db.commit()
        except IntegrityError as exc:  # the same rule created by a concurrent request
            raise _taken(data) from exc
        return rule_out(rule)


@routes.route(
    "PATCH",
    "/retention-rules/{rule_id}",
    summary="Change a retention rule's days (deadlines move at once, earlier or later)",
    tag="retention-rules",
    body=RetentionRulePatch,
    response=RetentionRuleOut,
    roles=ADMINS,
)
async def change_retention_rule(request: web.Request) -> RetentionRuleOut:
    claims = acting(request)
    rule_id = path_id(request, "rule_id")
    data = body(request, RetentionRulePatch)
    async with request.app[SESSIONS]() as db:
        rule = await privacy.get_rule(db, claims.org_id, rule_id)
        if rule is None:
            raise NotFound(f"no retention rule {rule_id}")
        if data.days != rule.days:  # the same days again changes nothing and is not audited
            rule = await privacy.change_rule(db, rule, days=data.days, actor=actor(claims))
            await db.commit()
        return rule_out(rule)


@routes.route(
    "DELETE",
    "/retention-rules/{rule_id}",
    summary="Delete a retention rule (its data falls back to the organisation's rule or the default)",
    tag="retention-rules",
    roles=ADMINS,
)
async def delete_retention_rule(request: web.Request) -> None:
    claims = acting(request)
    rule_id = path_id(request, "rule_id")
    async with request.app[SESSIONS]() as db:
        rule = await privacy.get_rule(db, claims.org_id, rule_id)
        if rule is None:
            raise NotFound(f"no retention rule {rule_id}")
        await privacy.delete_rule(db, rule, actor=actor(claims))
        await db.commit()
