"""Retention: how long call data is kept, and the sweep that deletes it on time, provably.

**Rules.** An organisation may set, per kind of data, a number of days for one queue or for
all its queues. What applies to a call is its queue's rule, else the organisation's, else
the built-in default (``DEFAULT_RETENTION_DAYS``). Access-log rows belong to no organisation, so their
retention is the installation's ``LOKET_ACCESS_LOG_DAYS`` (default 7), purged by the worker.

**Deadlines.** A recording's ``delete_after`` is its ``created_at`` plus the days that apply,
set when the row is created (``recording_deadline``) and set again for every recording of the
organisation whenever one of its rules is created, changed or deleted (``reschedule``).
Recordings under legal hold keep the deadline they had, and are never deleted while held.
Call metadata (the ``calls`` row, with its consents) has no column of its own: a call expires
``days`` after it was created, once none of its recordings is left.

**The sweep** (``sweep_expired``) is a job on rows (DESIGN.md, "Worker"). It claims expired
recordings under a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and one conditional
``UPDATE`` on SQLite, so concurrent workers never take the same row. For each claimed batch:

1. crypto-shred: the wrapped data keys are set to NULL and committed; from here on no copy
   anywhere (old object versions, backups, replicas) can be decrypted;
2. every stored copy goes: all S3 versions and delete markers, many recordings' keys per
   ``DeleteObjects`` request (at most 1,000 each), then the spool files;
3. the rows are deleted in the same transaction as one audit event per recording, the
   deletion receipt: what (recording, call, participant, storage key, versions, files), why
   (the rule or the default, its days), when.

Each step only touches rows this worker still holds. A worker that dies between steps leaves
its rows claimed; when the lease runs out the next sweep takes them and finishes, and since
the receipt is committed together with the row's deletion there is exactly one per recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, new_id, utcnow
from db.access_log import AccessLogEntry
from db.audit import AuditEvent, AuditHead, _event_hash
from db.jobs import Clock, claim_rows, default_worker_id
from db.tables import CALLS, CONSENTS, QUEUES
from privacy.call_data import CALL_DATA, move_deadlines, plus_days
from privacy.models import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionKind, RetentionRule
from recordings.config import RecordingsConfig
from recordings.errors import LegalHold, StorageUnavailable
from recordings.models import Recording, RecordingStatus
from recordings.s3 import S3Storage
from recordings.storage import LocalStorage, Storage
from recordings.uploader import encrypted_path

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

logger = logging.getLogger(__name__)

# Built-in retention when an organisation has no rule: recordings, transcripts and chat are
# personal data kept only as long as a complaint or a quality review plausibly needs them;
# call metadata (times, queue, outcome; no visitor data) serves a year of statistics.
DEFAULT_RETENTION_DAYS: Mapping[RetentionKind, int] = MappingProxyType(
    {
        RetentionKind.RECORDINGS: 30,
        RetentionKind.TRANSCRIPTS: 30,
        RetentionKind.CALL_METADATA: 365,
        RetentionKind.CHAT: 30,
        RetentionKind.ACCESS_LOG: 7,
    }
)
# Kinds an organisation may set rules for (access-log rows have no organisation).
ORG_RETENTION_KINDS = frozenset(RetentionKind) - {RetentionKind.ACCESS_LOG}
SWEEP_ACTOR = "retention"
DEFAULT_LEASE_SECONDS = 300.0
# DeleteObjects takes at most 1,000 keys per request (S3 API reference, DeleteObjects).
_DELETE_BATCH = 1000
_S3_CONCURRENCY = 8

# signaling's tables, named (not imported): just the columns retention needs.


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


# -- rules: the API and the CLI come through here ---------------------------------------------


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


# -- receipts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Receipt:
    org_id: uuid.UUID | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]


async def _append_receipts(session: AsyncSession, receipts: Sequence[_Receipt]) -> None:
    """Append many events to the audit chain at once (the caller commits).

    The same chain as ``audit.record`` (same hashes, same serialisation on ``audit_head``),
    in three statements for the batch instead of three per event: one receipt per deleted
    recording must not cost more than the deletion itself. (To move into db/audit.py as
    ``audit.record_many``; until then this reaches for its private ``_event_hash``.)
    """
    if not receipts:
        return
    head = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=AuditHead.seq + len(receipts))
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one()
    seq, prev_hash = int(head.seq) - len(receipts), str(head.hash)
    rows = []
    for receipt in receipts:
        seq += 1
        occurred_at = utcnow()
        event_hash = _event_hash(
            seq=seq,
            prev_hash=prev_hash,
            occurred_at=occurred_at,
            org_id=receipt.org_id,
            actor=receipt.actor,
            action=receipt.action,
            target=receipt.target,
            details=receipt.details,
        )
        rows.append(
            {
                "seq": seq,
                "occurred_at": occurred_at,
                "org_id": receipt.org_id,
                "actor": receipt.actor,
                "action": receipt.action,
                "target": receipt.target,
                "details": receipt.details,
                "prev_hash": prev_hash,
                "hash": event_hash,
            }
        )
        prev_hash = event_hash
    await session.execute(insert(AuditEvent), rows)
    await session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))


# -- claiming ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    call_id: uuid.UUID
    participant: str
    storage_key: str
    spool_path: str | None
    status: str
    delete_after: datetime | None


async def _claim(
    sessions: SessionFactory,
    condition: ColumnElement[bool],
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[_Claimed]:
    """Take up to ``limit`` rows matching ``condition`` (lease free, not on hold) for this worker
    (``db.jobs.claim_rows``: SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite).

    In storage-key order, so a batch is a run of neighbouring keys that a few listings cover.
    The upload worker leases rows through the same columns: a recording being uploaded is
    not taken until its upload is done (or its uploader's lease ran out).
    """
    columns = (
        Recording.id,
        Recording.call_id,
        Recording.participant,
        Recording.storage_key,
        Recording.spool_path,
        Recording.status,
        Recording.delete_after,
    )
    async with sessions() as session:
        rows = await claim_rows(
            session,
            Recording,
            and_(condition, Recording.legal_hold.is_(False)),
            worker_id=worker_id,
            now=now,
            lease=lease,
            limit=limit,
            order_by=(Recording.storage_key,),
            columns=columns,
        )
        await session.commit()
    return [_Claimed(*tuple(row)) for row in rows]


# -- deleting the copies ----------------------------------------------------------------------


def _by_folder(object_keys: Iterable[str]) -> list[list[str]]:
    """A batch's keys, sorted, per folder (a batch is mostly a run of neighbours in one)."""
    folders: dict[str, list[str]] = defaultdict(list)
    for key in sorted(object_keys):
        folders[key.rpartition("/")[0]].append(key)
    return list(folders.values())


def _list_versions(storage: S3Storage, keys: list[str]) -> dict[str, list[str]]:
    """Version ids (delete markers included) of each of ``keys``, sorted keys of one folder,
    in about one request per 1,000 versions (blocking).

    Keys are listed by their own name until one has versions (normally the first); from that
    anchor on, the folder is listed past it (``KeyMarker``) until past the last key, and a key
    that listing shows nothing of is listed again by its own name before nothing is believed.
    The continuation markers thus stay within this batch's own run of keys, which no other
    worker deletes meanwhile. (moto 5 skips the first entry after a ``KeyMarker`` without
    ``VersionIdMarker`` even when the marker key has no versions, and loses the rest of a
    listing whose continuation marker was deleted: both are harmless here.)
    """
    client = storage._s3()
    wanted = set(keys)
    found: dict[str, set[str]] = {key: set() for key in keys}

    def listing(**params: str) -> Iterable[Any]:
        while True:
            page = client.list_object_versions(Bucket=storage.bucket, **params)  # type: ignore[arg-type]
            yield page
            if not page.get("IsTruncated") or not page.get("NextKeyMarker"):
                return
            params = {
                **params,
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page.get("NextVersionIdMarker", ""),
            }

    def collect(page: Any) -> None:
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            key = entry.get("Key", "")
            # By prefix, "a.enc" also matches "a.enc.old"; by folder, other recordings' keys.
            if key in wanted and "VersionId" in entry:
                found[key].add(entry["VersionId"])

    def by_name(key: str) -> None:
        for page in listing(Prefix=key):
            collect(page)

    rest = list(keys)
    while rest:
        anchor = rest.pop(0)
        by_name(anchor)
        if found[anchor]:
            break
    if rest:
        folder = keys[0].rpartition("/")[0]
        for page in listing(Prefix=f"{folder}/" if folder else "", KeyMarker=anchor):
            collect(page)
            if page.get("NextKeyMarker", "") > rest[-1]:
                break  # listings are in key order: nothing further is ours
        for key in rest:
            if not found[key]:
                by_name(key)
    return {key: sorted(ids) for key, ids in found.items()}


def _delete_versions(storage: S3Storage, objects: list[ObjectIdentifierTypeDef]) -> set[str]:
    """Delete up to 1,000 object versions in one request; the keys S3 refused (blocking)."""
    response = storage._s3().delete_objects(Bucket=storage.bucket, Delete={"Objects": objects, "Quiet": True})
    return {error.get("Key", "") for error in response.get("Errors", [])}


async def _delete_s3(storage: S3Storage, keys: Sequence[str]) -> tuple[dict[str, int], set[str]]:
    by_object_key = {storage._object_key(key): key for key in keys}
    limit = asyncio.Semaphore(_S3_CONCURRENCY)

    async def bounded(what: str, subject: str, function: Any, *args: Any) -> Any:
        async with limit:
            return await storage._run(what, subject, function, *args)

    versions: dict[str, list[str]] = {}
    failed: set[str] = set()

    async def list_all(groups: list[list[str]]) -> None:
        listings = await asyncio.gather(
            *(bounded("version listing", group[0], _list_versions, storage, group) for group in groups),
            return_exceptions=True,
        )
        for group, listing in zip(groups, listings, strict=True):
            if isinstance(listing, BaseException):
                if not isinstance(listing, StorageUnavailable):
                    raise listing
                logger.warning("retention: listing versions from %s failed: %s", group[0], listing)
                failed.update(group)
            else:
                versions.update(listing)

    await list_all(_by_folder(by_object_key))
    objects: list[ObjectIdentifierTypeDef] = [
        {"Key": key, "VersionId": version_id} for key, ids in versions.items() for version_id in ids
    ]
    batches = [objects[start : start + _DELETE_BATCH] for start in range(0, len(objects), _DELETE_BATCH)]
    results = await asyncio.gather(
        *(bounded("delete", f"{len(batch)} versions", _delete_versions, storage, batch) for batch in batches),
        return_exceptions=True,
    )
    for batch, result in zip(batches, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, StorageUnavailable):
                raise result
            logger.warning("retention: deleting %d object versions failed: %s", len(batch), result)
            failed.update(item["Key"] for item in batch)
        else:
            failed.update(result)
    counts = {by_object_key[key]: len(ids) for key, ids in versions.items()}
    return counts, {by_object_key[key] for key in failed if key in by_object_key}


async def delete_stored_copies(storage: Storage, keys: Sequence[str]) -> tuple[dict[str, int], set[str]]:
    """Delete every stored version of each key, many keys per request where the backend allows.

    Returns the versions deleted per key and the keys that could not (all) be deleted.
    """
    if not keys:
        return {}, set()
    if isinstance(storage, S3Storage):
        return await _delete_s3(storage, keys)
    if isinstance(storage, LocalStorage):
        local = storage
        return await asyncio.to_thread(lambda: {key: local._delete(key) for key in keys}), set()
    counts: dict[str, int] = {}
    failed: set[str] = set()
    for key in keys:
        try:
            counts[key] = await storage.delete(key)
        except StorageUnavailable as exc:
            logger.warning("retention: deleting %s failed: %s", key, exc)
            failed.add(key)
    return counts, failed


def _remove_spool_files(spool_paths: Mapping[uuid.UUID, str], spool_dir: Path | None) -> dict[uuid.UUID, int]:
    """Unlink each recording's spool file and its encrypted twin, and the emptied call folder."""
    root = spool_dir.resolve() if spool_dir is not None else None
    removed: dict[uuid.UUID, int] = {}
    for recording_id, raw in spool_paths.items():
        path = Path(raw)
        if root is not None and not path.resolve().is_relative_to(root):
            logger.warning("retention: spool file of recording %s is outside the spool; left", recording_id)
            removed[recording_id] = 0
            continue
        count = 0
        for candidate in (path, encrypted_path(path)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                count += 1
        if root is not None and path.parent.resolve() != root:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty: the folder name is a call id
        removed[recording_id] = count
    return removed


# -- purging claimed recordings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Purge:
    """What one purge of claimed recordings is for and by whom."""

    actor: str
    reason: str
    worker_id: str
    now: datetime
    spool_dir: Path | None
    # For the sweep: shred only rows still due (a rule may have moved their deadline since).
    only_due: bool


async def _why(
    session: AsyncSession, rows: Sequence[_Claimed]
) -> dict[uuid.UUID, tuple[uuid.UUID | None, Retention]]:
    """Per call: its organisation and the recording retention that applies to it."""
    kind = RetentionKind.RECORDINGS
    calls = (
        await session.execute(
            select(CALLS.c.id, CALLS.c.org_id, CALLS.c.queue_id).where(
                CALLS.c.id.in_({row.call_id for row in rows})
            )
        )
    ).all()
    rules = await _rules_of(session, {call.org_id for call in calls}, kind)
    # A recording whose call is gone cannot exist (ON DELETE CASCADE); the default is a fallback.
    why: dict[uuid.UUID, tuple[uuid.UUID | None, Retention]] = {
        row.call_id: (None, Retention(kind, DEFAULT_RETENTION_DAYS[kind])) for row in rows
    }
    for call in calls:
        why[call.id] = (call.org_id, resolve_retention(rules[call.org_id], kind, call.queue_id))
    return why


async def _purge(sessions: SessionFactory, storage: Storage, claimed: Sequence[_Claimed], job: _Purge) -> int:
    """Shred, delete the copies of, and delete the claimed rows; returns how many went."""
    ids = [row.id for row in claimed]
    still_due: ColumnElement[bool] = (
        or_(Recording.status == RecordingStatus.SHREDDED.value, Recording.delete_after <= job.now)
        if job.only_due
        else true()
    )
    held_by_me = Recording.claimed_by == job.worker_id
    # 1. Crypto-shred, committed before any copy is touched.
    async with sessions() as session:
        shredded = set(
            await session.scalars(
                update(Recording)
                .where(Recording.id.in_(ids), held_by_me, Recording.legal_hold.is_(False), still_due)
                .values(wrapped_key=None, status=RecordingStatus.SHREDDED.value, next_attempt_at=None)
                .returning(Recording.id)
                .execution_options(synchronize_session=False)
            )
        )
        if len(shredded) < len(ids):
            # Put on hold or given a later deadline since we claimed them: not ours to delete.
            await session.execute(
                update(Recording)
                .where(Recording.id.in_([i for i in ids if i not in shredded]), held_by_me)
                .values(claimed_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        await session.commit()
    rows = [row for row in claimed if row.id in shredded]
    if not rows:
        return 0
    # 2. Every stored version, then the spool.
    versions, failed = await delete_stored_copies(storage, [row.storage_key for row in rows])
    done = [row for row in rows if row.storage_key not in failed]
    spools = {row.id: row.spool_path for row in done if row.spool_path is not None}
    files = await asyncio.to_thread(_remove_spool_files, spools, job.spool_dir) if spools else {}
    if failed:
        # Left claimed: another sweep retries them once the lease has run out.
        logger.warning("retention: %d recordings keep a stored copy for now; retried later", len(failed))
    if not done:
        return 0
    # 3. The rows, with their receipts, in one transaction.
    async with sessions() as session:
        gone = set(
            await session.scalars(
                delete(Recording)
                .where(Recording.id.in_([row.id for row in done]), held_by_me)
                .returning(Recording.id)
                .execution_options(synchronize_session=False)
            )
        )
        why = await _why(session, done)
        receipts = []
        for row in done:
            if row.id not in gone:
                continue
            org_id, retention = why[row.call_id]
            details: dict[str, Any] = {
                "reason": job.reason,
                "recording_id": str(row.id),
                "call_id": str(row.call_id),
                "participant": row.participant,
                "storage_key": row.storage_key,
                "delete_after": row.delete_after.isoformat() if row.delete_after else None,
                "object_versions": versions.get(row.storage_key, 0),
                "spool_files": files.get(row.id, 0),
                # Shredded by an earlier sweep that stopped before finishing.
                "resumed": row.status == RecordingStatus.SHREDDED,
            }
            if job.only_due:
                details["retention"] = retention.why()
            receipts.append(_Receipt(org_id, job.actor, "recording.deleted", f"recording:{row.id}", details))
        await _append_receipts(session, receipts)
        await session.commit()
    return len(gone)


async def sweep_expired(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    now: datetime | None = None,
    *,
    worker_id: str | None = None,
    batch: int = 1000,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> int:
    """One retention pass: every recording past its deadline, then expired call metadata.

    Returns how many recordings and calls it deleted. Safe to run in any number of workers at
    once; recordings on legal hold are never touched. ``now`` is for tests (a later "now").
    """
    if not 1 <= batch <= _DELETE_BATCH:
        raise ValueError(f"batch is 1 to {_DELETE_BATCH}")
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    lease = timedelta(seconds=lease_seconds)
    deleted, seen = 0, set[uuid.UUID]()
    while True:
        at = clock()
        claimed = await _claim(
            sessions, Recording.delete_after <= at, worker_id=worker_id, now=at, lease=lease, limit=batch
        )
        if not claimed or seen.issuperset(row.id for row in claimed):
            break
        seen.update(row.id for row in claimed)
        job = _Purge(SWEEP_ACTOR, "retention", worker_id, at, config.spool_dir, only_due=True)
        deleted += await _purge(sessions, storage, claimed, job)
    calls = await sweep_expired_calls(sessions, clock(), batch=batch)
    if deleted or calls:
        logger.info("retention: deleted %d recordings and %d expired calls", deleted, calls)
    return deleted + calls


# -- call metadata ----------------------------------------------------------------------------


def _no_recordings() -> ColumnElement[bool]:
    return ~exists().where(Recording.call_id == CALLS.c.id)


def _no_held_transcript() -> ColumnElement[bool]:
    """No transcript of the call is on legal hold: it would go with the call (ON DELETE CASCADE)."""
    transcripts = CALL_DATA[RetentionKind.TRANSCRIPTS].table
    return ~exists().where(transcripts.c.call_id == CALLS.c.id, transcripts.c.legal_hold.is_(True))


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


async def _delete_calls(
    session: AsyncSession,
    which: Select[Any],
    *,
    actor: str,
    details: dict[str, Any],
    unless_held: bool = False,
) -> list[uuid.UUID]:
    """Delete the calls ``which`` selects that have no recording left (and, ``unless_held``, no
    transcript on legal hold), with a receipt each."""
    candidates = [row.id for row in await session.execute(which)]
    if not candidates:
        return []
    consents: dict[uuid.UUID, int] = {
        call_id: count
        for call_id, count in await session.execute(
            select(CONSENTS.c.call_id, func.count())
            .where(CONSENTS.c.call_id.in_(candidates))
            .group_by(CONSENTS.c.call_id)
        )
    }
    # Conditional and RETURNING: of two workers deleting the same call, one gets the row.
    gone = (
        await session.execute(
            delete(CALLS)
            .where(
                CALLS.c.id.in_(candidates),
                _no_recordings(),
                _no_held_transcript() if unless_held else true(),
            )
            .returning(CALLS.c.id, CALLS.c.org_id, CALLS.c.created_at)
        )
    ).all()
    receipts = [
        _Receipt(
            row.org_id,
            actor,
            "call.deleted",
            f"call:{row.id}",
            {
                "call_id": str(row.id),
                "created_at": row.created_at.isoformat(),
                "consents": consents.get(row.id, 0),
                **details,
            },
        )
        for row in gone
    ]
    await _append_receipts(session, receipts)
    return [row.id for row in gone]


async def sweep_expired_calls(
    sessions: SessionFactory, now: datetime | None = None, *, batch: int = 1000
) -> int:
    """Delete calls past their call-metadata retention that have no recordings left and no
    transcript on legal hold (their consents go with them), with a receipt each; returns how many."""
    now = now or utcnow()
    async with sessions() as session:
        groups = await _expired_call_groups(session, now)
    deleted = 0
    for which, retention in groups:
        why = retention.why()
        while True:  # in batches, each its own transaction
            async with sessions() as session:
                gone = await _delete_calls(
                    session,
                    select(CALLS.c.id).where(which, _no_recordings(), _no_held_transcript()).limit(batch),
                    actor=SWEEP_ACTOR,
                    details={"reason": "retention", "retention": why},
                    unless_held=True,
                )
                await session.commit()
            deleted += len(gone)
            if len(gone) < batch:
                break
    return deleted


# -- erasure of one call ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallErasure:
    """What ``erase_call_data`` did. ``complete`` is False while another worker still holds
    some of the call's recordings (an upload or a sweep in progress): run it again later."""

    recordings: int
    call_deleted: bool
    access_log_rows: int
    complete: bool


async def refuse_if_held(session: AsyncSession, call_id: uuid.UUID) -> None:
    """Raise ``LegalHold`` when a recording or the transcript of the call is on legal hold: the
    one check an erasure of the call makes (privacy requests go through ``erase_call_data``).
    The transcripts table is transcription's, named in ``call_data``; chat has no hold."""
    transcripts = CALL_DATA[RetentionKind.TRANSCRIPTS].table
    recordings = await session.scalar(
        select(func.count()).where(Recording.call_id == call_id, Recording.legal_hold.is_(True))
    )
    transcript = await session.scalar(
        select(func.count()).where(transcripts.c.call_id == call_id, transcripts.c.legal_hold.is_(True))
    )
    held = [
        *([f"{recordings} recording(s)"] if recordings else []),
        *(["the transcript"] if transcript else []),
    ]
    if held:
        raise LegalHold(f"{' and '.join(held)} of call {call_id} under legal hold")


async def erase_call_data(
    sessions: SessionFactory,
    storage: Storage,
    call_id: uuid.UUID,
    reason: str,
    *,
    actor: str = "privacy",
    spool_dir: Path | None = None,
    worker_id: str | None = None,
    now: datetime | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> CallErasure:
    """Delete everything stored of one call: its recordings (shredded, every copy, the rows),
    then the call row (consents cascade) and its visitor's access-log rows; a receipt each.

    Raises ``LegalHold`` (nothing deleted) if a recording or the transcript of the call is on
    legal hold (``refuse_if_held``: erasure asks nowhere else); a hold put on the transcript
    while the recordings are being erased still keeps the call and its transcript. Idempotent:
    run again after a crash or an incomplete result, it finishes the job.
    """
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    async with sessions() as session:
        await refuse_if_held(session, call_id)
    recordings = 0
    while True:
        at = clock()
        claimed = await _claim(
            sessions,
            Recording.call_id == call_id,
            worker_id=worker_id,
            now=at,
            lease=timedelta(seconds=lease_seconds),
            limit=_DELETE_BATCH,
        )
        if not claimed:
            break
        job = _Purge(actor, reason, worker_id, at, spool_dir, only_due=False)
        purged = await _purge(sessions, storage, claimed, job)
        recordings += purged
        if purged < len(claimed):
            break  # a copy could not be deleted: the rest waits for the lease to run out
    async with sessions() as session:
        visitor_id = await session.scalar(select(CALLS.c.visitor_id).where(CALLS.c.id == call_id))
        if visitor_id is None:
            return CallErasure(recordings, call_deleted=False, access_log_rows=0, complete=True)
        access_log = await session.execute(
            delete(AccessLogEntry).where(AccessLogEntry.visitor_id == visitor_id)
        )
        access_log_rows = int(access_log.rowcount)  # type: ignore[attr-defined]
        gone = await _delete_calls(
            session,
            select(CALLS.c.id).where(CALLS.c.id == call_id),
            actor=actor,
            details={"reason": reason, "access_log_rows": access_log_rows, "recordings": recordings},
            # A hold put on the transcript since the check above: the transcript would go
            # with the call (ON DELETE CASCADE).
            unless_held=True,
        )
        if not gone:
            # Some recording is still held by another worker, or a hold came meanwhile: keep
            # the call (and its log rows).
            await session.rollback()
            await refuse_if_held(session, call_id)
            return CallErasure(recordings, call_deleted=False, access_log_rows=0, complete=False)
        await session.commit()
    return CallErasure(recordings, call_deleted=True, access_log_rows=access_log_rows, complete=True)
