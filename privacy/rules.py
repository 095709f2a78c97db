"""Retention rules: the API and the CLI list, create, change and delete them here, and every
change moves the deadlines it governs at once (``reschedule``), in the caller's transaction,
with an audit event.

Recordings, transcripts and chat messages store their deadlines (``delete_after``), so a rule
change rewrites them for the whole organisation in a few ``UPDATE`` statements, one per queue
with a rule of its own and one for the rest; rows on legal hold keep theirs. Call metadata has no
stored deadline: the sweep judges it against the rules as they are (``retention``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import audit, new_id, utcnow
from db.tables import CALLS, QUEUES
from privacy.call_data import CALL_DATA, move_deadlines, plus_days
from privacy.models import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionKind, RetentionRule
from privacy.retention import DEFAULT_RETENTION_DAYS, ORG_RETENTION_KINDS, _rules_of
from recordings.models import Recording, RecordingStatus


async def list_rules(session: AsyncSession, org_id: uuid.UUID) -> list[RetentionRule]:
    rows = await session.scalars(
        select(RetentionRule)
        .where(RetentionRule.org_id == org_id)
        .order_by(RetentionRule.kind, RetentionRule.queue_id.is_not(None), RetentionRule.created_at)
    )
    return list(rows.all())


async def get_rule(session: AsyncSession, org_id: uuid.UUID, rule_id: uuid.UUID) -> RetentionRule | None:
    """The rule if it exists *in this organisation* (another organisation's rule is None)."""
    return await session.scalar(
        select(RetentionRule)
        .where(RetentionRule.id == rule_id, RetentionRule.org_id == org_id)
        .execution_options(populate_existing=True)
    )


async def find_rule(
    session: AsyncSession, org_id: uuid.UUID, queue_id: uuid.UUID | None, kind: RetentionKind
) -> RetentionRule | None:
    """The rule for exactly this (organisation, queue or none, kind), if there is one."""
    same_queue = RetentionRule.queue_id.is_(None) if queue_id is None else RetentionRule.queue_id == queue_id
    return await session.scalar(
        select(RetentionRule).where(
            RetentionRule.org_id == org_id, RetentionRule.kind == kind.value, same_queue
        )
    )


async def queue_in_org(session: AsyncSession, org_id: uuid.UUID, queue_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(QUEUES.c.id).where(QUEUES.c.id == queue_id, QUEUES.c.org_id == org_id)
    )
    return found is not None


def _check(kind: RetentionKind, days: int) -> None:
    if kind not in ORG_RETENTION_KINDS:
        raise ValueError("access-log retention is LOKET_ACCESS_LOG_DAYS, for the whole installation")
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention is {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days")


async def create_rule(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    queue_id: uuid.UUID | None,
    kind: RetentionKind,
    days: int,
    actor: str,
) -> RetentionRule:
    """Add a rule, reschedule what it governs, and audit both (the caller commits).

    The caller has checked that the queue belongs to the organisation; a second rule for the
    same (organisation, queue, kind) fails on the unique indexes (``IntegrityError``).
    """
    _check(kind, days)
    rule_id, now = new_id(), utcnow()
    await session.execute(
        insert(RetentionRule).values(
            id=rule_id,
            org_id=org_id,
            queue_id=queue_id,
            kind=kind.value,
            days=days,
            created_at=now,
            updated_at=now,
        )
    )
    rescheduled = await reschedule(session, org_id, kind)
    await audit.record(
        session,
        actor=actor,
        action="retention_rule.create",
        target=f"retention_rule:{rule_id}",
        org_id=org_id,
        details={
            "kind": kind.value,
            "queue_id": str(queue_id) if queue_id else None,
            "days": days,
            "rescheduled": rescheduled,
        },
    )
    rule = await get_rule(session, org_id, rule_id)
    assert rule is not None
    return rule


async def change_rule(session: AsyncSession, rule: RetentionRule, *, days: int, actor: str) -> RetentionRule:
    """Set a rule's days and reschedule what it governs (the caller commits)."""
    kind = RetentionKind(rule.kind)
    _check(kind, days)
    before = rule.days
    await session.execute(
        update(RetentionRule)
        .where(RetentionRule.id == rule.id)
        .values(days=days, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    rescheduled = await reschedule(session, rule.org_id, kind)
    await audit.record(
        session,
        actor=actor,
        action="retention_rule.update",
        target=f"retention_rule:{rule.id}",
        org_id=rule.org_id,
        details={"days": {"from": before, "to": days}, "kind": kind.value, "rescheduled": rescheduled},
    )
    changed = await get_rule(session, rule.org_id, rule.id)
    assert changed is not None
    return changed


async def delete_rule(session: AsyncSession, rule: RetentionRule, *, actor: str) -> None:
    """Remove a rule; what it governed falls back to the organisation's rule or the default."""
    kind = RetentionKind(rule.kind)
    await session.execute(
        delete(RetentionRule).where(RetentionRule.id == rule.id).execution_options(synchronize_session=False)
    )
    rescheduled = await reschedule(session, rule.org_id, kind)
    await audit.record(
        session,
        actor=actor,
        action="retention_rule.delete",
        target=f"retention_rule:{rule.id}",
        org_id=rule.org_id,
        details={
            "kind": kind.value,
            "queue_id": str(rule.queue_id) if rule.queue_id else None,
            "days": rule.days,
            "rescheduled": rescheduled,
        },
    )


async def reschedule(session: AsyncSession, org_id: uuid.UUID, kind: RetentionKind) -> int:
    """Recompute the deadlines of ``kind`` for the whole organisation; returns the rows moved.

    Recordings, transcripts and chat messages store their deadlines (``call_data``); call
    metadata is judged at sweep time.
    """
    if kind is not RetentionKind.RECORDINGS and kind not in CALL_DATA:
        return 0
    rules = (await _rules_of(session, [org_id], kind))[org_id]
    queue_rules = {rule.queue_id: rule.days for rule in rules if rule.queue_id is not None}
    org_days = next((rule.days for rule in rules if rule.queue_id is None), DEFAULT_RETENTION_DAYS[kind])
    in_org = CALLS.c.org_id == org_id
    groups: list[tuple[ColumnElement[bool], int]] = [
        (and_(in_org, CALLS.c.queue_id == queue_id), days) for queue_id, days in queue_rules.items()
    ]
    others = or_(CALLS.c.queue_id.is_(None), CALLS.c.queue_id.not_in(list(queue_rules)))
    groups.append((and_(in_org, others) if queue_rules else in_org, org_days))
    dialect = session.get_bind().dialect.name
    moved = 0
    for calls, days in groups:
        if kind in CALL_DATA:
            moved += await move_deadlines(session, kind, calls, days, calls_id=CALLS.c.id)
            continue
        result = await session.execute(
            update(Recording)
            .where(
                Recording.call_id.in_(select(CALLS.c.id).where(calls)),
                Recording.status != RecordingStatus.SHREDDED.value,
                Recording.legal_hold.is_(False),
            )
            .values(delete_after=_plus_days(dialect, days))
            .execution_options(synchronize_session=False)
        )
        moved += int(result.rowcount)  # type: ignore[attr-defined]
    return moved


def _plus_days(dialect: str, days: int) -> ColumnElement[Any]:
    """``recordings.created_at`` plus ``days``, computed by the database for every row."""
    return plus_days(dialect, Recording.created_at, days)
