"""The audit chain's anchors: each event (and the head) carries an HMAC under a key derived from
the master key, which the database never holds. Whoever can write the database can rewrite the
tail of a plain hash chain *and* its head so that the hashes agree again; the anchors catch that.
Tampering is done with plain SQL, as an intruder with database access would."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from db import SessionFactory, audit, create_engine, create_session_factory, migrate
from db.audit import AuditEvent, AuditHead, _event_hash
from db.keys import InstallationKeys

ORG = uuid.UUID("6f0c7d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f")
KEYS = InstallationKeys(master_key=secrets.token_bytes(32))


@pytest.fixture
async def sessions(empty_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions with the installation keys, as ``loket serve`` and ``loket audit verify`` make them."""
    await migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    yield create_session_factory(engine, keys=KEYS)
    await engine.dispose()


@pytest.fixture
async def intruder(empty_url: str, sessions: SessionFactory) -> AsyncIterator[SessionFactory]:
    """Sessions on the same database without the keys: someone with only database access."""
    engine = create_engine(empty_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def append(sessions: SessionFactory, count: int) -> None:
    for n in range(1, count + 1):
        async with sessions() as db:
            await audit.record(
                db, actor=f"user:{n}", action="recording.deleted", target=f"recording:{n}", org_id=ORG
            )
            await db.commit()


async def verify(sessions: SessionFactory, keys: InstallationKeys | None = None) -> audit.ChainReport:
    async with sessions() as db:
        return await audit.verify(db, keys)


async def rewrite_tail(intruder: SessionFactory, from_seq: int, **changes: Any) -> None:
    """Change events ``from_seq``… and recompute every hash after them and the head's, in SQL:
    the chain's links and hashes all agree again."""
    async with intruder() as db:
        events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = events[from_seq - 2].hash if from_seq > 1 else audit.GENESIS_HASH
        for event in events[from_seq - 1 :]:
            content = {
                "seq": event.seq,
                "prev_hash": prev,
                "occurred_at": event.occurred_at,
                "org_id": event.org_id,
                "actor": changes.get("actor", event.actor),
                "action": event.action,
                "target": event.target,
                "details": event.details,
            }
            prev = _event_hash(**content)
            await db.execute(
                update(AuditEvent)
                .where(AuditEvent.seq == event.seq)
                .values(prev_hash=content["prev_hash"], actor=content["actor"], hash=prev)
            )
        await db.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
        await db.commit()


async def test_every_event_and_the_head_carry_an_anchor_that_verifies(sessions: SessionFactory) -> None:
    await append(sessions, 4)
    async with sessions() as db:
        events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        head = await db.get(AuditHead, 1)
    assert all(event.anchor and len(event.anchor) == 81 for event in events)
    assert head is not None and head.anchor is not None
    report = await verify(sessions)
    assert report == audit.ChainReport(checked=4, anchored=True)


async def test_a_tail_rewritten_with_its_head_in_sql_fails_verification(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(sessions, 5)
    await rewrite_tail(intruder, 3, actor="user:mallory")

    # The hash chain alone is fooled: every link and hash agrees again.
    assert (await verify(intruder)).ok
    # The anchors are not: the intruder could not make them without the master key.
    report = await verify(sessions)
    assert (report.ok, report.broken_at, report.checked) == (False, 3, 2), report
    assert "anchor" in (report.reason or "")


async def test_an_anchor_copied_from_another_row_or_removed_fails(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(sessions, 3)
    async with intruder() as db:
        first = await db.scalar(select(AuditEvent.anchor).where(AuditEvent.seq == 1))
        await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(anchor=first))
        await db.commit()
    assert (await verify(sessions)).broken_at == 2
    async with intruder() as db:
        await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(anchor=None))
        await db.commit()
    report = await verify(sessions)
    assert report.broken_at == 2 and "missing" in (report.reason or "")


async def test_events_written_without_the_keys_are_not_anchored(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(sessions, 2)
    await append(intruder, 1)  # an event appended by someone with only database access
    assert (await verify(intruder)).ok
    report = await verify(sessions)
    assert report.broken_at == 3


async def test_a_retired_master_key_still_verifies_and_a_foreign_one_does_not(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(sessions, 2)
    rotated = InstallationKeys(master_key=secrets.token_bytes(32), retired_master_keys=(KEYS.master_key,))
    assert (await verify(intruder, rotated)).ok
    foreign = InstallationKeys(master_key=secrets.token_bytes(32))
    assert (await verify(intruder, foreign)).broken_at == 1


async def test_ip_addresses_in_details_are_stored_only_as_a_keyed_hash(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    async with sessions() as db:
        await audit.record(
            db, actor="user:1", action="auth.login", target="user:1", details={"ip": "203.0.113.7"}
        )
        await audit.record_many(
            db,
            [
                audit.Entry("user:2", "auth.login", "user:2", details={"ip": "2001:db8::1", "note": "n"}),
                audit.Entry("user:3", "auth.login", "user:3", details={"ip": "203.0.113.7"}),
            ],
        )
        await db.commit()
    async with intruder() as db:
        await audit.record(
            db, actor="user:4", action="auth.login", target="user:4", details={"ip": "198.51.100.9"}
        )
        await db.commit()
        events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    dump = repr([(event.actor, event.details) for event in events])
    assert not {"203.0.113.7", "2001:db8::1", "198.51.100.9"} & set(dump.replace("'", " ").split())
    same = audit.ip_pseudonym(KEYS, "203.0.113.7")
    assert events[0].details == {"ip": same} and events[2].details == {"ip": same}
    assert events[1].details == {"ip": audit.ip_pseudonym(KEYS, "2001:db8::1"), "note": "n"}
    assert same.startswith("ip-hmac:") and len(same) == len("ip-hmac:") + 32
    # Without the keys nothing of the address is kept.
    assert events[3].details == {"ip": "withheld"}
    assert (await verify(sessions)).checked == 3


async def test_events_from_before_the_upgrade_are_anchored_once_and_an_intruders_never(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(intruder, 3)  # written before anchoring existed: no keys, no anchors
    assert (await verify(sessions)).broken_at == 1
    async with sessions() as db:
        assert await audit.anchor_old_events(db, actor="cli") == 3
        await db.commit()
    report = await verify(sessions)
    assert report.ok and report.checked == 4, report  # the three and the audit.anchored receipt
    async with sessions() as db:
        receipt = await db.scalar(select(AuditEvent).where(AuditEvent.seq == 4))
    assert receipt is not None and receipt.action == "audit.anchored"
    assert receipt.details == {"events": 3, "through_seq": 3}

    # Later, an event appended without the master key is never anchored by running it again.
    await append(intruder, 1)
    async with sessions() as db:
        assert await audit.anchor_old_events(db, actor="cli") == 0
        await db.commit()
    assert (await verify(sessions)).broken_at == 5


async def test_nothing_is_anchored_on_a_chain_whose_hashes_do_not_verify(
    sessions: SessionFactory, intruder: SessionFactory
) -> None:
    await append(intruder, 3)
    async with intruder() as db:
        await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="user:mallory"))
        await db.commit()
    async with sessions() as db:
        with pytest.raises(ValueError, match="broken at event 2"):
            await audit.anchor_old_events(db, actor="cli")
        anchors = list(await db.scalars(select(AuditEvent.anchor)))
    assert anchors == [None, None, None]
