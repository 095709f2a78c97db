"""Hash-chained audit events.

Each event stores the hash of the one before it and its own hash over its content, so
removing, reordering or editing any event breaks the chain from that point on; ``verify``
finds the first break. Appends are serialised through the single ``audit_head`` row:
updating it first takes a row lock on PostgreSQL and SQLite's write lock, so two
writers (even on two nodes) can never fork the chain.

``record`` appends one event; ``record_many`` appends a batch (one deletion receipt per
recording of a retention sweep) in three statements instead of three per event, on the same
chain with the same hashes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Uuid, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditHead(Base):
    """One row: the sequence number and hash of the newest audit event."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(200), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


def _event_hash(
    *,
    seq: int,
    prev_hash: str,
    occurred_at: datetime,
    org_id: uuid.UUID | None,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "prev_hash": prev_hash,
            # Microseconds survive every backend we store on; the ISO form is unambiguous.
            "occurred_at": occurred_at.isoformat(timespec="microseconds"),
            "org_id": str(org_id) if org_id else None,
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One event to append: who (``actor``) did what (``action``) to which ``target``, in which
    organisation, with ``details`` (JSON). Actor and target are cut to their 200 characters."""

    actor: str
    action: str
    target: str
    org_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def _take_seqs(session: AsyncSession, count: int) -> tuple[int, str]:
    """Reserve ``count`` sequence numbers; returns the one before them and its hash.

    The UPDATE comes first: it takes the lock that serialises appends (see module doc).
    """
    head = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=AuditHead.seq + count)
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one()
    return int(head.seq) - count, str(head.hash)


def _link(entries: Sequence[Entry], seq: int, prev_hash: str) -> list[dict[str, Any]]:
    """The rows of ``entries``, numbered after ``seq`` and each hashed over the one before."""
    rows = []
    for entry in entries:
        seq += 1
        occurred_at = utcnow()
        content: dict[str, Any] = {
            "seq": seq,
            "prev_hash": prev_hash,
            "occurred_at": occurred_at,
            "org_id": entry.org_id,
            "actor": entry.actor[:200],
            "action": entry.action,
            "target": entry.target[:200],
            "details": entry.details,
        }
        prev_hash = _event_hash(**content)
        rows.append({**content, "hash": prev_hash})
    return rows


async def _set_head_hash(session: AsyncSession, newest_hash: str) -> None:
    await session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=newest_hash))


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    org_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain inside the caller's transaction (the caller commits)."""
    seq, prev_hash = await _take_seqs(session, 1)
    [row] = _link([Entry(actor, action, target, org_id, details or {})], seq, prev_hash)
    event = AuditEvent(**row)
    session.add(event)
    await _set_head_hash(session, event.hash)
    await session.flush()
    return event


async def record_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Append ``entries`` to the chain, in order, inside the caller's transaction (the caller
    commits): the same events ``record`` would append one by one, in three statements."""
    if not entries:
        return
    seq, prev_hash = await _take_seqs(session, len(entries))
    rows = _link(entries, seq, prev_hash)
    await session.execute(insert(AuditEvent), rows)
    await _set_head_hash(session, rows[-1]["hash"])


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of a chain verification: ``broken_at`` is the first bad sequence number."""

    checked: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def _events_in_order(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def verify(session: AsyncSession) -> ChainReport:
    """Walk the whole chain and report the first event whose link or hash is wrong."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    async for event in _events_in_order(session):
        if event.seq != expected_seq:
            return ChainReport(checked, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.seq, "previous-hash link does not match")
        recomputed = _event_hash(
            seq=event.seq,
            prev_hash=event.prev_hash,
            occurred_at=event.occurred_at,
            org_id=event.org_id,
            actor=event.actor,
            action=event.action,
            target=event.target,
            details=event.details,
        )
        if recomputed != event.hash:
            return ChainReport(checked, event.seq, "content does not match its hash")
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = await session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != expected_prev):
        return ChainReport(checked, expected_seq, "newest events are missing (head does not match)")
    return ChainReport(checked)
