"""The hash-chained audit log: appends link up, ``verify`` finds the first tampered event, and
concurrent writers never fork the chain. Every test runs on a fresh database of its own."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from db import SessionFactory, audit, create_engine, create_session_factory, migrate
from db.audit import GENESIS_HASH, AuditEvent, AuditHead

ORG = uuid.UUID("3d4f0b8e-51a4-4f37-9a55-0f6a0c1e2d3b")


@pytest.fixture
async def sessions(empty_url: str) -> AsyncIterator[SessionFactory]:
    await migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def append(sessions: SessionFactory, count: int) -> list[AuditEvent]:
    """``count`` events, each in its own transaction, as the application writes them."""
    events = []
    for n in range(1, count + 1):
        async with sessions() as db:
            events.append(
                await audit.record(
                    db,
                    actor=f"user:{n}",
                    action="queue.update",
                    target=f"queue:{n}",
                    org_id=ORG,
                    details={"name": f"Queue {n}", "languages": ["nl", "en"]},
                )
            )
            await db.commit()
    return events


async def verify(sessions: SessionFactory) -> audit.ChainReport:
    async with sessions() as db:
        return await audit.verify(db)


async def tamper(sessions: SessionFactory, seq: int, **values: Any) -> None:
    async with sessions() as db:
        await db.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(**values))
        await db.commit()


async def stored(sessions: SessionFactory) -> list[AuditEvent]:
    async with sessions() as db:
        return list(await db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


async def test_an_empty_chain_verifies(sessions: SessionFactory) -> None:
    assert await verify(sessions) == audit.ChainReport(checked=0)


async def test_appended_events_link_each_to_the_one_before_and_verify(sessions: SessionFactory) -> None:
    await append(sessions, 3)
    events = await stored(sessions)
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert [event.prev_hash for event in events[1:]] == [event.hash for event in events[:-1]]
    assert len({event.hash for event in events}) == 3
    assert all(len(event.hash) == 64 and int(event.hash, 16) >= 0 for event in events)
    async with sessions() as db:
        head = await db.get(AuditHead, 1)
    assert head is not None and (head.seq, head.hash) == (3, events[-1].hash)
    report = await verify(sessions)
    assert report.ok and report.checked == 3 and report.broken_at is None


async def test_details_with_unicode_nesting_and_numbers_verify_after_a_round_trip(
    sessions: SessionFactory,
) -> None:
    details = {"z": "Café Ünïcode ✓", "a": {"list": [1, 2.5, None, True], "empty": {}}, "n": -7}
    async with sessions() as db:
        await audit.record(db, actor="cli", action="org.create", target="org:x", details=details)
        await db.commit()
    [event] = await stored(sessions)
    assert event.details == details
    assert (await verify(sessions)).ok


async def test_a_batch_appended_at_once_links_up_with_single_events_and_verifies(
    sessions: SessionFactory,
) -> None:
    await append(sessions, 1)
    batch = [audit.Entry("retention", "recording.deleted", f"recording:{n}", ORG, {"n": n}) for n in range(3)]
    async with sessions() as db:
        await audit.record_many(db, batch)
        await audit.record_many(db, [])  # nothing to append: the chain is untouched
        await db.commit()
    await append(sessions, 1)
    events = await stored(sessions)
    assert [event.seq for event in events] == [1, 2, 3, 4, 5]
    assert [event.prev_hash for event in events[1:]] == [event.hash for event in events[:-1]]
    assert [(e.actor, e.action, e.target, e.org_id, e.details) for e in events[1:4]] == [
        ("retention", "recording.deleted", f"recording:{n}", ORG, {"n": n}) for n in range(3)
    ]
    report = await verify(sessions)
    assert report.ok and report.checked == 5


async def test_an_event_in_a_rolled_back_transaction_leaves_no_gap(sessions: SessionFactory) -> None:
    async with sessions() as db:
        await audit.record(db, actor="cli", action="org.create", target="org:gone")
        await db.rollback()
    await append(sessions, 1)
    assert [event.seq for event in await stored(sessions)] == [1]
    assert (await verify(sessions)).ok


@pytest.mark.parametrize(
    "change",
    [
        {"details": {"name": "Queue 2", "languages": ["nl", "en", "de"]}},
        {"details": {}},
        {"actor": "user:mallory"},
        {"action": "queue.create"},
        {"target": "queue:99"},
        {"org_id": None},
    ],
    ids=["details", "details-emptied", "actor", "action", "target", "org"],
)
async def test_editing_an_event_is_detected_at_its_seq(
    sessions: SessionFactory, change: dict[str, Any]
) -> None:
    await append(sessions, 4)
    await tamper(sessions, 2, **change)
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (2, 1)
    assert report.reason == "content does not match its hash"


async def test_moving_an_events_time_is_detected_at_its_seq(sessions: SessionFactory) -> None:
    events = await append(sessions, 3)
    await tamper(sessions, 3, occurred_at=events[2].occurred_at - timedelta(hours=1))
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (3, 2)


async def test_changing_an_events_prev_hash_is_detected_at_its_seq(sessions: SessionFactory) -> None:
    await append(sessions, 4)
    await tamper(sessions, 2, prev_hash="f" * 64)
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (2, 1)
    assert report.reason == "previous-hash link does not match"


async def test_rehashing_an_edited_event_is_caught_by_the_next_link(sessions: SessionFactory) -> None:
    await append(sessions, 4)
    [_, second, *_] = await stored(sessions)
    forged = audit._event_hash(
        seq=2,
        prev_hash=second.prev_hash,
        occurred_at=second.occurred_at,
        org_id=second.org_id,
        actor="user:mallory",
        action=second.action,
        target=second.target,
        details=second.details,
    )
    await tamper(sessions, 2, actor="user:mallory", hash=forged)
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (3, 2)
    assert report.reason == "previous-hash link does not match"


async def test_deleting_an_event_is_detected_at_its_seq(sessions: SessionFactory) -> None:
    await append(sessions, 4)
    async with sessions() as db:
        await db.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
        await db.commit()
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (2, 1)
    assert report.reason is not None and "missing" in report.reason


async def test_deleting_the_newest_event_is_detected_against_the_head(sessions: SessionFactory) -> None:
    await append(sessions, 3)
    async with sessions() as db:
        await db.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
        await db.commit()
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (3, 2)


async def test_swapping_two_events_contents_is_detected(sessions: SessionFactory) -> None:
    first, second, _ = await append(sessions, 3)
    await tamper(sessions, 1, actor=second.actor, target=second.target)
    await tamper(sessions, 2, actor=first.actor, target=first.target)
    report = await verify(sessions)
    assert (report.broken_at, report.checked) == (1, 0)


async def test_the_hash_is_sha256_over_the_canonical_content(sessions: SessionFactory) -> None:
    [event] = await append(sessions, 1)
    canonical = (
        '{"action":"queue.update","actor":"user:1","details":{"languages":["nl","en"],"name":"Queue 1"},'
        f'"occurred_at":"{event.occurred_at.isoformat(timespec="microseconds")}","org_id":"{ORG}",'
        f'"prev_hash":"{GENESIS_HASH}","seq":1,"target":"queue:1"}}'
    )
    assert event.hash == hashlib.sha256(canonical.encode()).hexdigest()


async def test_twenty_concurrent_appends_through_separate_sessions_never_fork_the_chain(
    sessions: SessionFactory,
) -> None:
    ready = asyncio.Event()

    async def one(n: int) -> int:
        async with sessions() as db:
            await ready.wait()
            event = await audit.record(db, actor=f"node:{n}", action="test.append", target=f"n:{n}")
            await asyncio.sleep(0.01)
            await db.commit()
            return event.seq

    tasks = [asyncio.create_task(one(n)) for n in range(20)]
    await asyncio.sleep(0.05)
    ready.set()
    seqs = await asyncio.gather(*tasks)
    assert sorted(seqs) == list(range(1, 21))
    events = await stored(sessions)
    assert len({event.prev_hash for event in events}) == 20
    assert {event.actor for event in events} == {f"node:{n}" for n in range(20)}
    report = await verify(sessions)
    assert report.ok and report.checked == 20
