"""Retention: how long call data is kept, and what applies to a call.

**Rules.** An organisation may set, per kind of data, a number of days for one queue or for
all its queues. What applies to a call is its queue's rule, else the organisation's, else
the built-in default (``DEFAULT_RETENTION_DAYS``). Access-log rows belong to no organisation, so their
retention is the installation's ``LOKET_ACCESS_LOG_DAYS`` (default 7), purged by the worker.

**Deadlines.** A recording's ``delete_after`` is its ``created_at`` plus the days that apply,
set when the row is created (``recording_deadline``) and set again for every recording of the
organisation whenever one of its rules is created, changed or deleted (``rules.reschedule``).
Recordings under legal hold keep the deadline they had, and are never deleted while held.
Call metadata (the ``calls`` row, with its consents) has no column of its own: a call expires
``days`` after it was created, once none of its recordings is left (``_expired_call_groups``).

Around this module: ``rules`` changes the rules, ``sweep`` deletes what is past its deadline
(``purge`` holds the steps it shares with ``erasure``), ``call_data_sweep`` does the same for
transcripts and chat.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import CALLS
from privacy.models import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionKind, RetentionRule

# Built-in retention when an organisation has no rule: recordings, transcripts and chat are
# personal data kept only as long as a complaint or a quality review plausibly needs them;
# call metadata (times, queue, outcome; no visitor data) serves a year of statistics.
DEFAULT_RETENTION_DAYS: Mapping[RetentionKind, int] = MappingProxyType(
    {
        RetentionKind.RECORDINGS: 30,
        RetentionKind.TRANSCRIPTS: 30,
        RetentionKind.CALL_METADATA: 365,
        RetentionKind.CHAT: 30,
        RetentionKind.ATTACHMENTS: 30,
        RetentionKind.ACCESS_LOG: 7,
    }
)
# Kinds an organisation may set rules for (access-log rows have no organisation).
ORG_RETENTION_KINDS = frozenset(RetentionKind) - {RetentionKind.ACCESS_LOG}


@dataclass(frozen=True, slots=True)
class Retention:
    """The retention of one kind of data of one call: a rule's, or the built-in default."""

    kind: RetentionKind
    days: int
    rule_id: uuid.UUID | None = None
    # "queue", "organisation" or "default"
    scope: str = "default"

    def __post_init__(self) -> None:
        if not MIN_RETENTION_DAYS <= self.days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention is {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days")
        if self.scope not in ("queue", "organisation", "default"):
            raise ValueError("scope is queue, organisation or default")
        if (self.rule_id is None) != (self.scope == "default"):
            raise ValueError("a rule's retention names its rule; the default names none")

    def deadline(self, created_at: datetime) -> datetime:
        return created_at + timedelta(days=self.days)

    def why(self) -> dict[str, Any]:
        """The "why" of a deletion receipt."""
        rule = str(self.rule_id) if self.rule_id else "default"
        return {"rule": rule, "scope": self.scope, "kind": self.kind.value, "days": self.days}


def resolve_retention(
    rules: Iterable[RetentionRule], kind: RetentionKind, queue_id: uuid.UUID | None
) -> Retention:
    """What applies to ``kind`` of a call in ``queue_id``, given its organisation's ``rules``."""
    org_rule: RetentionRule | None = None
    for rule in rules:
        if rule.kind != kind:
            continue
        if rule.queue_id is not None and rule.queue_id == queue_id:
            return Retention(kind, rule.days, rule.id, "queue")
        if rule.queue_id is None:
            org_rule = rule
    if org_rule is not None:
        return Retention(kind, org_rule.days, org_rule.id, "organisation")
    return Retention(kind, DEFAULT_RETENTION_DAYS[kind])


async def _rules_of(
    session: AsyncSession, org_ids: Collection[uuid.UUID], kind: RetentionKind | None = None
) -> dict[uuid.UUID, list[RetentionRule]]:
    # populate_existing: a rule changed by a statement in this session must not come back stale.
    statement = (
        select(RetentionRule)
        .where(RetentionRule.org_id.in_(list(org_ids)))
        .execution_options(populate_existing=True)
    )
    if kind is not None:
        statement = statement.where(RetentionRule.kind == kind.value)
    found: dict[uuid.UUID, list[RetentionRule]] = defaultdict(list)
    for rule in await session.scalars(statement):
        found[rule.org_id].append(rule)
    return found


async def retention_for_call(session: AsyncSession, call_id: uuid.UUID, kind: RetentionKind) -> Retention:
    """The retention of ``kind`` for the call (the default if the call is unknown)."""
    call = (
        await session.execute(select(CALLS.c.org_id, CALLS.c.queue_id).where(CALLS.c.id == call_id))
    ).first()
    if call is None:
        return Retention(kind, DEFAULT_RETENTION_DAYS[kind])
    rules = await _rules_of(session, [call.org_id], kind)
    return resolve_retention(rules[call.org_id], kind, call.queue_id)


async def calls_past_retention(session: AsyncSession, kind: RetentionKind, now: datetime) -> Select[Any]:
    """The ids of calls created longer ago than their retention of ``kind``: data of that kind
    made for such a call now would already be past its deadline (and was deleted, if made)."""
    groups = await _expired_call_groups(session, now, kind)
    return select(CALLS.c.id).where(or_(*(which for which, _ in groups)))


async def recording_deadline(session: AsyncSession, *, call_id: uuid.UUID, created_at: datetime) -> datetime:
    """``delete_after`` of a recording of ``call_id`` created at ``created_at``."""
    retention = await retention_for_call(session, call_id, RetentionKind.RECORDINGS)
    return retention.deadline(created_at)


async def _why(
    session: AsyncSession, kind: RetentionKind, call_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID | None, Retention]]:
    """Per call: its organisation and the retention of ``kind`` that applies to it (the "why"
    of a deletion receipt). A call that is gone gets no organisation and the default."""
    calls = (
        await session.execute(
            select(CALLS.c.id, CALLS.c.org_id, CALLS.c.queue_id).where(CALLS.c.id.in_(list(call_ids)))
        )
    ).all()
    rules = await _rules_of(session, {call.org_id for call in calls}, kind)
    why: dict[uuid.UUID, tuple[uuid.UUID | None, Retention]] = {
        call_id: (None, Retention(kind, DEFAULT_RETENTION_DAYS[kind])) for call_id in call_ids
    }
    for call in calls:
        why[call.id] = (call.org_id, resolve_retention(rules[call.org_id], kind, call.queue_id))
    return why


async def _expired_call_groups(
    session: AsyncSession, now: datetime, kind: RetentionKind = RetentionKind.CALL_METADATA
) -> list[tuple[ColumnElement[bool], Retention]]:
    """(which calls are older than it, the retention) for every rule of ``kind`` and the default."""
    rules = list(await session.scalars(select(RetentionRule).where(RetentionRule.kind == kind.value)))
    queue_rules: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for rule in rules:
        if rule.queue_id is not None:
            queue_rules[rule.org_id].add(rule.queue_id)
    groups: list[tuple[ColumnElement[bool], Retention]] = []
    for rule in rules:
        cutoff = CALLS.c.created_at < now - timedelta(days=rule.days)
        if rule.queue_id is not None:
            which = and_(CALLS.c.org_id == rule.org_id, CALLS.c.queue_id == rule.queue_id, cutoff)
            groups.append((which, Retention(kind, rule.days, rule.id, "queue")))
        else:
            own = queue_rules[rule.org_id]
            others = or_(CALLS.c.queue_id.is_(None), CALLS.c.queue_id.not_in(own)) if own else true()
            groups.append(
                (
                    and_(CALLS.c.org_id == rule.org_id, others, cutoff),
                    Retention(kind, rule.days, rule.id, "organisation"),
                )
            )
    ruled = select(RetentionRule.id).where(
        RetentionRule.kind == kind.value,
        RetentionRule.org_id == CALLS.c.org_id,
        or_(RetentionRule.queue_id.is_(None), RetentionRule.queue_id == CALLS.c.queue_id),
    )
    default = and_(CALLS.c.created_at < now - timedelta(days=DEFAULT_RETENTION_DAYS[kind]), ~ruled.exists())
    groups.append((default, Retention(kind, DEFAULT_RETENTION_DAYS[kind])))
    return groups
