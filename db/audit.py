"""Hash-chained audit events.

Each event stores the hash of the one before it and its own hash over its content, so
removing, reordering or editing any event breaks the chain from that point on; ``verify``
finds the first break. Appends are serialised through the single ``audit_head`` row:
updating it first takes a row lock on PostgreSQL and SQLite's write lock, so two
writers (even on two nodes) can never fork the chain.

``record`` appends one event; ``record_many`` appends a batch (one deletion receipt per
recording of a retention sweep) in three statements instead of three per event, on the same
chain with the same hashes.

**Anchoring.** A plain hash chain only proves that nobody edited it *without recomputing the
hashes after the edit*: whoever can write the database can rewrite the tail and the head row
with it. So each event (and the head row) also carries ``anchor``: ``<key id>:<HMAC-SHA256 of
its hash>`` under a key derived from the master key (``db.keys``, purpose ``audit-hmac/v1``),
which is never stored in the database. ``verify`` with the keys (the session's ``info``, as
``loket audit verify`` makes it) requires every event and the head to carry a valid anchor, so
a tail rewritten with SQL fails even when the head row was rewritten too. What the anchor cannot
tell: a tail cut off together with a head put back exactly as it was at that seq (an old copy
of the head row, e.g. from a backup) — the ledger of erasures in storage (``privacy.ledger``)
keeps what matters of those.

**IP addresses** in an event's details (top-level fields such as ``ip``) are never stored: they
are replaced by a keyed hash before the event is hashed (``audit-ip/v1``), and so is the address
of an ``ip:<address>`` actor (a failed login's), so the trail needs no
purge after ``LOKET_ACCESS_LOG_DAYS`` and an anchored event is never rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
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
from db.keys import InstallationKeys, derived_key_id, keys_of

GENESIS_HASH = "0" * 64
AUDIT_KEY_PURPOSE = "audit-hmac/v1"
# IP addresses in details are kept only as a keyed hash (the same address, the same hash: a dpo
# can still see that two events came from one address, but no address is stored).
IP_KEY_PURPOSE = "audit-ip/v1"
_IP_FIELDS = frozenset({"ip", "ip_address", "client_ip", "address", "remote"})
# "<16 hex key id>:<64 hex HMAC>"
ANCHOR_LENGTH = 81


class AuditHead(Base):
    """One row: the sequence number and hash of the newest audit event."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # HMAC of "seq:hash" under the audit key (NULL while the chain is empty or unkeyed).
    anchor: Mapped[str | None] = mapped_column(String(ANCHOR_LENGTH))


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
    # HMAC of ``hash`` under the audit key; NULL only when written by a session without keys.
    anchor: Mapped[str | None] = mapped_column(String(ANCHOR_LENGTH))


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


def _anchor(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    return f"{derived_key_id(key)}:{digest}"


def _anchored(keys: tuple[bytes, ...], message: str, anchor: str | None) -> bool:
    """Whether ``anchor`` is a valid HMAC of ``message`` under one of ``keys``."""
    if not anchor:
        return False
    key_id = anchor.split(":", 1)[0]
    key = next((k for k in keys if derived_key_id(k) == key_id), None)
    return key is not None and hmac.compare_digest(_anchor(key, message), anchor)


def _head_message(seq: int, hash_: str) -> str:
    return f"head:{seq}:{hash_}"


def _ip_pseudonym(ip_key: bytes, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return "ip-hmac:" + hmac.new(ip_key, address.compressed.encode(), hashlib.sha256).hexdigest()[:32]


def ip_pseudonym(keys: InstallationKeys, ip: str) -> str:
    """What the trail stores for address ``ip`` (to find a given address's events, or in tests)."""
    return _ip_pseudonym(keys.current(IP_KEY_PURPOSE), ipaddress.ip_address(ip))


def _pseudonymised(details: dict[str, Any], ip_key: bytes | None) -> dict[str, Any]:
    """``details`` with every IP address in a top-level address field replaced by
    ``ip-hmac:<32 hex>`` (HMAC-SHA256 under the audit IP key), or ``withheld`` without keys."""
    if not details.keys() & _IP_FIELDS:
        return details
    cleaned = dict(details)
    for name in details.keys() & _IP_FIELDS:
        value = details[name]
        try:
            address = ipaddress.ip_address(str(value).strip())
        except ValueError:
            continue
        cleaned[name] = "withheld" if ip_key is None else _ip_pseudonym(ip_key, address)
    return cleaned


def _pseudonymised_actor(actor: str, ip_key: bytes | None) -> str:
    """An ``ip:<address>`` actor (a failed login names no one else) as ``ip:ip-hmac:<32 hex>``,
    the same keyed hash as in details, or ``ip:withheld`` without keys; other actors as they are."""
    kind, _, value = actor.partition(":")
    if kind != "ip":
        return actor
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return actor
    return "ip:" + ("withheld" if ip_key is None else _ip_pseudonym(ip_key, address))


def _ip_key(session: AsyncSession) -> bytes | None:
    keys = keys_of(session.info)
    return keys.current(IP_KEY_PURPOSE) if keys is not None else None


def _audit_key(session: AsyncSession) -> bytes | None:
    keys = keys_of(session.info)
    return keys.current(AUDIT_KEY_PURPOSE) if keys is not None else None


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


def _link(
    entries: Sequence[Entry], seq: int, prev_hash: str, key: bytes | None, ip_key: bytes | None = None
) -> list[dict[str, Any]]:
    """The rows of ``entries``, numbered after ``seq``, each hashed over the one before and
    anchored with ``key`` (if any)."""
    rows = []
    for entry in entries:
        seq += 1
        occurred_at = utcnow()
        content: dict[str, Any] = {
            "seq": seq,
            "prev_hash": prev_hash,
            "occurred_at": occurred_at,
            "org_id": entry.org_id,
            "actor": _pseudonymised_actor(entry.actor, ip_key)[:200],
            "action": entry.action,
            "target": entry.target[:200],
            "details": _pseudonymised(entry.details, ip_key),
        }
        prev_hash = _event_hash(**content)
        anchor = _anchor(key, prev_hash) if key is not None else None
        rows.append({**content, "hash": prev_hash, "anchor": anchor})
    return rows


async def _set_head_hash(session: AsyncSession, newest_seq: int, newest_hash: str, key: bytes | None) -> None:
    anchor = _anchor(key, _head_message(newest_seq, newest_hash)) if key is not None else None
    await session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=newest_hash, anchor=anchor))


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
    key = _audit_key(session)
    seq, prev_hash = await _take_seqs(session, 1)
    [row] = _link(
        [Entry(actor, action, target, org_id, details or {})], seq, prev_hash, key, _ip_key(session)
    )
    event = AuditEvent(**row)
    session.add(event)
    await _set_head_hash(session, event.seq, event.hash, key)
    await session.flush()
    return event


async def record_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Append ``entries`` to the chain, in order, inside the caller's transaction (the caller
    commits): the same events ``record`` would append one by one, in three statements."""
    if not entries:
        return
    key = _audit_key(session)
    seq, prev_hash = await _take_seqs(session, len(entries))
    rows = _link(entries, seq, prev_hash, key, _ip_key(session))
    await session.execute(insert(AuditEvent), rows)
    await _set_head_hash(session, rows[-1]["seq"], rows[-1]["hash"], key)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of a chain verification: ``broken_at`` is the first bad sequence number."""

    checked: int
    broken_at: int | None = None
    reason: str | None = None
    # Whether the anchors (HMACs under the audit key) were checked too.
    anchored: bool = False

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


async def verify(
    session: AsyncSession, keys: InstallationKeys | None = None, *, check_anchors: bool = True
) -> ChainReport:
    """Walk the whole chain and report the first event whose link, hash or anchor is wrong.

    With ``keys`` (by default the session's own), every event and the head must carry an anchor
    made with a key derived from one of the master keys; without (or with ``check_anchors``
    off), only the hashes are checked.
    """
    keys = keys or keys_of(session.info)
    audit_keys = keys.all(AUDIT_KEY_PURPOSE) if keys is not None and check_anchors else None
    anchored = audit_keys is not None

    def report(checked: int, seq: int, reason: str) -> ChainReport:
        return ChainReport(checked, seq, reason, anchored)

    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    async for event in _events_in_order(session):
        if event.seq != expected_seq:
            return report(checked, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != expected_prev:
            return report(checked, event.seq, "previous-hash link does not match")
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
            return report(checked, event.seq, "content does not match its hash")
        if audit_keys is not None and not _anchored(audit_keys, event.hash, event.anchor):
            reason = (
                "its anchor (HMAC) is missing" if not event.anchor else "its anchor (HMAC) does not match"
            )
            return report(checked, event.seq, f"{reason}: rewritten by someone without the master key")
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = await session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != expected_prev):
        return report(checked, expected_seq, "newest events are missing (head does not match)")
    if (
        audit_keys is not None
        and head is not None
        and head.seq > 0
        and not _anchored(audit_keys, _head_message(head.seq, head.hash), head.anchor)
    ):
        return report(checked, expected_seq, "the head's anchor (HMAC) does not match")
    return ChainReport(checked, anchored=anchored)


async def anchor_old_events(session: AsyncSession, *, actor: str) -> int:
    """Anchor the events an installation wrote before anchoring existed (migration 0009): run
    once, right after the upgrade (``loket audit anchor``). Returns how many; the caller commits.

    Only the leading run of events without an anchor is anchored, and only on a chain whose
    links and hashes verify. An unanchored event *after* an anchored one was written by someone
    without the master key: it stays unanchored, and ``verify`` keeps naming it. The anchoring
    itself is audited (``audit.anchored``), with the last sequence number it covered.
    """
    key = _audit_key(session)
    if key is None:
        raise ValueError("anchoring needs the installation keys (LOKET_MASTER_KEY)")
    plain = await verify(session, check_anchors=False)
    if not plain.ok:
        raise ValueError(f"the chain is broken at event {plain.broken_at}: {plain.reason}; nothing anchored")
    leading: list[tuple[int, str]] = []
    async for event in _events_in_order(session):
        if event.anchor:
            break
        leading.append((event.seq, event.hash))
    for seq, hash_ in leading:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.seq == seq, AuditEvent.anchor.is_(None))
            .values(anchor=_anchor(key, hash_))
        )
    if leading:
        # Appending also anchors the head.
        await record(
            session,
            actor=actor,
            action="audit.anchored",
            target="audit",
            details={"events": len(leading), "through_seq": leading[-1][0]},
        )
    return len(leading)
