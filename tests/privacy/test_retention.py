"""Retention on SQLite and PostgreSQL, local storage and S3 (moto over HTTP): deadlines follow
the rules, the sweep deletes every copy with a receipt, never twice, never what is on hold.

The sweeps run with a ``now`` 11 days ahead against rules of 10 days or less: other tests'
recordings in the shared databases keep the 30-day default and are never due here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, column, insert, select, table, update

from db import (
    AccessLogEntry,
    SessionFactory,
    UTCDateTime,
    audit,
    create_engine,
    create_session_factory,
    migrate,
    utcnow,
)
from privacy import (
    DEFAULT_RETENTION_DAYS,
    RetentionKind,
    change_rule,
    delete_rule,
    erase_call_data,
    sweep_expired,
)
from privacy.purge import _claim, _Purge, _purge
from recordings import (
    LegalHold,
    LocalStorage,
    Recording,
    RecordingsConfig,
    RecordingStatus,
    S3Storage,
    Storage,
)
from signaling.models import Call, Consent
from tests.conftest import service_missing
from tests.db.conftest import create_postgres_database, drop_postgres_database
from tests.privacy.seeding import Org, close_to, receipts
from tests.recordings.conftest import read, write

LATER = timedelta(days=11)  # when the sweeps run, relative to now
LEASE = timedelta(seconds=300)


async def row(sessions: SessionFactory, recording_id: uuid.UUID) -> Recording | None:
    async with sessions() as session:
        found: Recording | None = await session.get(Recording, recording_id, populate_existing=True)
        return found


async def test_rule_changes_move_deadlines_earlier_and_later_and_a_deleted_rule_falls_back(
    sessions: SessionFactory, org: Org
) -> None:
    sales, repairs = org.queues
    created = utcnow() - timedelta(days=3)
    in_sales = await org.recording(await org.call(sales), created_at=created)
    in_repairs = await org.recording(await org.call(repairs), created_at=created)
    no_queue = await org.recording(await org.call(None), created_at=created)
    held = await org.recording(await org.call(sales), created_at=created)
    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == held.id).values(legal_hold=True))
        await session.commit()

    async def deadlines() -> dict[str, datetime | None]:
        rows = {name: await row(sessions, r.id) for name, r in [("sales", in_sales), ("repairs", in_repairs)]}
        rows |= {"none": await row(sessions, no_queue.id), "held": await row(sessions, held.id)}
        return {name: r.delete_after if r else None for name, r in rows.items()}

    def expect(days: int) -> datetime:
        return created + timedelta(days=days)

    default = DEFAULT_RETENTION_DAYS[RetentionKind.RECORDINGS]
    assert all(close_to(d, expect(default)) for d in (await deadlines()).values())

    org_rule = await org.rule(RetentionKind.RECORDINGS, 10)  # earlier, for every queue
    moved = await deadlines()
    assert all(close_to(moved[name], expect(10)) for name in ("sales", "repairs", "none"))
    assert close_to(moved["held"], expect(default)), "a recording on legal hold keeps its deadline"

    sales_rule = await org.rule(RetentionKind.RECORDINGS, 90, sales)  # later, for one queue
    moved = await deadlines()
    assert close_to(moved["sales"], expect(90))
    assert close_to(moved["repairs"], expect(10)) and close_to(moved["none"], expect(10))

    async with sessions() as session:
        await change_rule(session, sales_rule, days=5, actor="test")
        await session.commit()
    assert close_to((await deadlines())["sales"], expect(5))
    # Other kinds of rules do not touch recordings.
    await org.rule(RetentionKind.TRANSCRIPTS, 1)
    assert close_to((await deadlines())["sales"], expect(5))

    async with sessions() as session:
        await delete_rule(session, sales_rule, actor="test")
        await session.commit()
    moved = await deadlines()
    assert close_to(moved["sales"], expect(10)), "back to the organisation's rule"
    async with sessions() as session:
        await delete_rule(session, org_rule, actor="test")
        await session.commit()
    moved = await deadlines()
    assert all(close_to(moved[name], expect(default)) for name in ("sales", "repairs", "none"))
    assert close_to(moved["held"], expect(default))
    # A new recording in the queue follows the rules as they are now.
    await org.rule(RetentionKind.RECORDINGS, 7, repairs)
    fresh = await org.recording(await org.call(repairs), created_at=created)
    assert close_to(fresh.delete_after, expect(7))
    async with sessions() as session:
        assert (await audit.verify(session)).ok


async def test_an_expired_recording_is_gone_from_the_database_every_stored_version_and_the_spool(
    sessions: SessionFactory, org: Org, storage: Storage, config: RecordingsConfig, s3: Any
) -> None:
    rule = await org.rule(RetentionKind.RECORDINGS, 10)
    call_id = await org.call(org.queues[0])
    stored = await org.recording(call_id, storage)
    versions = 1
    if isinstance(storage, S3Storage):
        # A re-upload and a delete marker: older versions a plain DELETE would leave behind.
        object_key = f"{storage.prefix}/{stored.storage_key}"
        s3.put_object(Bucket=storage.bucket, Key=object_key, Body=b"an older attempt")
        s3.delete_object(Bucket=storage.bucket, Key=object_key)
        versions = 3
    spool = config.spool_dir / str(call_id) / "visitor-1.webm"
    spool.parent.mkdir()
    write(spool, b"media never uploaded")
    write(Path(f"{spool}.enc"), b"its encrypted twin")
    spooled = await org.recording(call_id, spool=spool)
    keep = await org.recording(await org.call(org.queues[1]), storage, created_at=utcnow() + 2 * LATER)

    await sweep_expired(sessions, storage, config, now=utcnow() + LATER, worker_id="sweeper")

    assert await row(sessions, stored.id) is None and await row(sessions, spooled.id) is None
    if isinstance(storage, S3Storage):
        listing = s3.list_object_versions(
            Bucket=storage.bucket, Prefix=f"{storage.prefix}/{stored.storage_key}"
        )
        assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
    else:
        assert not await storage.exists(stored.storage_key)
    assert read(spool) is None and read(Path(f"{spool}.enc")) is None
    assert not spool.parent.exists(), "the emptied call folder goes too"
    # Not yet due: untouched.
    assert (kept := await row(sessions, keep.id)) is not None and kept.wrapped_key is not None
    assert await storage.exists(keep.storage_key)

    [receipt] = await receipts(sessions, f"recording:{stored.id}")
    assert receipt.action == "recording.deleted" and receipt.actor == "retention" and receipt.org_id == org.id
    assert receipt.details["retention"] == {
        "rule": str(rule.id),
        "scope": "organisation",
        "kind": "recordings",
        "days": 10,
    }
    assert receipt.details["call_id"] == str(call_id) and receipt.details["participant"] == "visitor"
    assert receipt.details["storage_key"] == stored.storage_key
    assert receipt.details["object_versions"] == versions and receipt.details["resumed"] is False
    assert stored.delete_after is not None
    assert receipt.details["delete_after"] == stored.delete_after.isoformat()
    [spool_receipt] = await receipts(sessions, f"recording:{spooled.id}")
    assert spool_receipt.details["spool_files"] == 2 and spool_receipt.details["object_versions"] == 0
    async with sessions() as session:
        assert (await audit.verify(session)).ok


async def test_a_recording_on_legal_hold_stays_until_the_hold_is_lifted(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    await org.rule(RetentionKind.RECORDINGS, 1)
    held = await org.recording(await org.call(), storage)
    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == held.id).values(legal_hold=True))
        await session.commit()

    for _ in range(2):
        await sweep_expired(sessions, storage, config, now=utcnow() + LATER)
    still = await row(sessions, held.id)
    assert (
        still is not None and still.wrapped_key == held.wrapped_key and still.status == RecordingStatus.STORED
    )
    assert await storage.exists(held.storage_key)
    assert await receipts(sessions, f"recording:{held.id}") == []
    with pytest.raises(LegalHold):
        await erase_call_data(sessions, storage, held.call_id, "erasure request")
    assert await row(sessions, held.id) is not None

    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == held.id).values(legal_hold=False))
        await session.commit()
    await sweep_expired(sessions, storage, config, now=utcnow() + LATER)
    assert await row(sessions, held.id) is None and not await storage.exists(held.storage_key)


class CountingStorage(LocalStorage):
    """Local storage that counts deletions per key, takes its time, and can die on the first."""

    def __init__(self, root: Path, *, die: bool = False) -> None:
        super().__init__(root)
        self.deleted: Counter[str] = Counter()
        self.die = die

    def _delete(self, key: str) -> int:
        if self.die:
            self.die = False
            raise RuntimeError("the worker died here")
        self.deleted[key] += 1
        time.sleep(0.002)  # a thread, like every storage call: the other worker gets its turn
        return super()._delete(key)


async def test_two_concurrent_sweeps_never_delete_or_audit_the_same_recording_twice(
    sessions: SessionFactory, database_url: str, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = CountingStorage(tmp_path / "objects")
    await org.rule(RetentionKind.RECORDINGS, 2)
    calls = [await org.call(org.queues[i % 2]) for i in range(6)]
    recordings = [await org.recording(calls[i % 6], storage) for i in range(40)]
    other_engine = create_engine(database_url)  # the second worker has its own connections
    try:
        results = await asyncio.gather(
            sweep_expired(sessions, storage, config, now=utcnow() + LATER, worker_id="a", batch=3),
            sweep_expired(
                create_session_factory(other_engine),
                storage,
                config,
                now=utcnow() + LATER,
                worker_id="b",
                batch=3,
            ),
        )
    finally:
        await other_engine.dispose()
    assert min(results) > 0, f"both workers took part: {results}"
    for recording in recordings:
        assert await row(sessions, recording.id) is None
        assert storage.deleted[recording.storage_key] == 1
        assert len(await receipts(sessions, f"recording:{recording.id}")) == 1
    async with sessions() as session:
        assert (await audit.verify(session)).ok
        calls_left = len(list(await session.scalars(select(Call.id).where(Call.id.in_(calls)))))
    # Each sweep counts what all its lanes (batches in flight at once on PostgreSQL) deleted.
    assert sum(results) == len(recordings) + len(calls) - calls_left, results


async def test_a_sweep_that_died_after_shredding_is_finished_once_after_its_lease_expires(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = CountingStorage(tmp_path / "objects", die=True)
    await org.rule(RetentionKind.RECORDINGS, 3)
    recordings = [await org.recording(await org.call(), storage) for _ in range(3)]
    t0 = utcnow() + LATER

    with pytest.raises(RuntimeError, match="died"):
        await sweep_expired(sessions, storage, config, now=t0, worker_id="dead")
    for recording in recordings:
        shredded = await row(sessions, recording.id)
        assert shredded is not None and shredded.wrapped_key is None, "shredded before any copy is touched"
        assert shredded.status == RecordingStatus.SHREDDED and shredded.claimed_by == "dead"

    # Its lease still runs: nobody else touches the rows.
    await sweep_expired(sessions, storage, config, now=t0 + LEASE - timedelta(seconds=5), worker_id="next")
    assert all([await row(sessions, r.id) is not None for r in recordings])
    await sweep_expired(sessions, storage, config, now=t0 + LEASE + timedelta(seconds=5), worker_id="next")
    await sweep_expired(sessions, storage, config, now=t0 + LEASE + timedelta(seconds=10), worker_id="third")
    for recording in recordings:
        assert await row(sessions, recording.id) is None
        assert storage.deleted[recording.storage_key] == 1
        [receipt] = await receipts(sessions, f"recording:{recording.id}")
        assert receipt.details["resumed"] is True


async def test_a_claimed_and_abandoned_recording_is_deleted_once_its_lease_runs_out(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    await org.rule(RetentionKind.RECORDINGS, 3)
    recording = await org.recording(await org.call(), storage)
    t0 = utcnow() + LATER
    claimed = await _claim(
        sessions, Recording.id == recording.id, worker_id="ghost", now=t0, lease=LEASE, limit=10
    )
    assert [c.id for c in claimed] == [recording.id]

    await sweep_expired(sessions, storage, config, now=t0 + timedelta(seconds=60))
    assert (await row(sessions, recording.id)) is not None
    await sweep_expired(sessions, storage, config, now=t0 + LEASE + timedelta(seconds=1))
    assert await row(sessions, recording.id) is None
    assert len(await receipts(sessions, f"recording:{recording.id}")) == 1


async def test_a_deadline_moved_later_after_the_claim_saves_the_recording(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    rule = await org.rule(RetentionKind.RECORDINGS, 3)
    recording = await org.recording(await org.call(), storage)
    t0 = utcnow() + LATER
    [claimed] = await _claim(
        sessions, Recording.id == recording.id, worker_id="w", now=t0, lease=LEASE, limit=1
    )
    async with sessions() as session:
        await change_rule(session, rule, days=30, actor="test")
        await session.commit()
    # The sweep that claimed it re-checks the deadline when it shreds.
    assert (
        await _purge(
            sessions,
            storage,
            [claimed],
            _Purge("retention", "retention", "w", t0, None, only_due=True),
        )
        == 0
    )
    kept = await row(sessions, recording.id)
    assert kept is not None and kept.wrapped_key is not None and kept.claimed_by is None
    assert await storage.exists(recording.storage_key)


async def test_expired_call_metadata_goes_with_a_receipt_once_no_recording_is_left(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    now = utcnow()
    rule = await org.rule(RetentionKind.CALL_METADATA, 30, org.queues[0])
    old_in_queue = await org.call(org.queues[0], created_at=now - timedelta(days=31))
    young_in_queue = await org.call(org.queues[0], created_at=now - timedelta(days=29))
    old_elsewhere = await org.call(org.queues[1], created_at=now - timedelta(days=200))
    ancient = await org.call(org.queues[1], created_at=now - timedelta(days=400))
    with_recording = await org.call(org.queues[0], created_at=now - timedelta(days=100))
    held = await org.recording(with_recording, storage)
    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == held.id).values(legal_hold=True))
        session.add(
            Consent(call_id=old_in_queue, party="visitor", granted=True, text_id="t", text_hash="0" * 64)
        )
        await session.commit()

    await sweep_expired(sessions, storage, config, now=now)

    async with sessions() as session:
        left = set(await session.scalars(select(Call.id).where(Call.org_id == org.id)))
        consents = list(await session.scalars(select(Consent.id).where(Consent.call_id == old_in_queue)))
    assert left == {young_in_queue, old_elsewhere, with_recording}
    assert consents == [], "consents go with their call"
    [receipt] = await receipts(sessions, f"call:{old_in_queue}")
    assert receipt.action == "call.deleted" and receipt.org_id == org.id
    assert receipt.details["retention"] == {
        "rule": str(rule.id),
        "scope": "queue",
        "kind": "call_metadata",
        "days": 30,
    }
    assert receipt.details["consents"] == 1
    [default] = await receipts(sessions, f"call:{ancient}")
    assert default.details["retention"]["rule"] == "default" and default.details["retention"]["days"] == 365


async def test_erasing_a_call_leaves_nothing_of_it_but_the_receipts(
    sessions: SessionFactory, org: Org, storage: Storage, config: RecordingsConfig
) -> None:
    call_id = await org.call(org.queues[0])
    recordings = [await org.recording(call_id, storage) for _ in range(2)]
    async with sessions() as session:
        visitor_id = await session.scalar(select(Call.visitor_id).where(Call.id == call_id))
        session.add(Consent(call_id=call_id, party="visitor", granted=True, text_id="t", text_hash="0" * 64))
        session.add(
            AccessLogEntry(
                occurred_at=utcnow(),
                ip="192.0.2.1",
                user_agent="test",
                method="GET",
                path="/",
                status=200,
                duration_ms=1,
                visitor_id=visitor_id,
            )
        )
        await session.commit()

    erased = await erase_call_data(sessions, storage, call_id, "erasure request", spool_dir=config.spool_dir)
    assert (erased.recordings, erased.call_deleted, erased.access_log_rows, erased.complete) == (
        2,
        True,
        1,
        True,
    )
    for recording in recordings:
        assert await row(sessions, recording.id) is None and not await storage.exists(recording.storage_key)
        [receipt] = await receipts(sessions, f"recording:{recording.id}")
        assert receipt.details["reason"] == "erasure request" and receipt.actor == "privacy"
    async with sessions() as session:
        assert await session.get(Call, call_id) is None
        assert (
            await session.scalar(select(AccessLogEntry.id).where(AccessLogEntry.visitor_id == visitor_id))
            is None
        )
    [receipt] = await receipts(sessions, f"call:{call_id}")
    assert receipt.details["consents"] == 1 and receipt.details["access_log_rows"] == 1
    # Again: nothing left to do, nothing written.
    again = await erase_call_data(sessions, storage, call_id, "erasure request")
    assert (again.recordings, again.call_deleted, again.complete) == (0, False, True)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_recordings_stored_before_retention_existed_get_the_default_deadline(
    dialect: str, tmp_path: Path
) -> None:
    if dialect == "sqlite":
        url: str | None = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        url = await create_postgres_database()
        if url is None:
            service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    assert url is not None
    try:
        await migrate.upgrade(url, "0002")
        created = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
        org_id, call_id, recording_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                now = {"created_at": created}
                # The table as revision 0002 left it: the model's later columns do not exist yet.
                old_organisations = table(
                    "organisations", column("id", Uuid()), column("name"), column("created_at", UTCDateTime())
                )
                await connection.execute(insert(old_organisations), [{"id": org_id, "name": "Old", **now}])
                old_calls = table(
                    "calls",
                    *(column(name) for name in ("reference", "visitor_id", "status")),
                    column("id", Uuid()),
                    column("org_id", Uuid()),
                    column("created_at", UTCDateTime()),
                )
                await connection.execute(
                    insert(old_calls),
                    [
                        {
                            "id": call_id,
                            "org_id": org_id,
                            "reference": "R",
                            "visitor_id": "v",
                            "status": "ended",
                            **now,
                        }
                    ],
                )
                await connection.execute(
                    insert(Recording),
                    [
                        {
                            "id": recording_id,
                            "call_id": call_id,
                            "participant": "visitor",
                            "storage_key": "2026/01/02/old.webm.enc",
                            "status": "stored",
                            "attempts": 0,
                            "legal_hold": False,
                            **now,
                        }
                    ],
                )
            await migrate.upgrade(url)
            async with create_session_factory(engine)() as session:
                migrated = await session.get(Recording, recording_id)
        finally:
            await engine.dispose()
        assert migrated is not None and migrated.delete_after == created + timedelta(days=30)
    finally:
        if dialect == "postgresql":
            await drop_postgres_database(url)


async def test_the_worker_sweeps_every_minute(
    sessions: SessionFactory, org: Org, config: RecordingsConfig, tmp_path: Path
) -> None:
    from loket.worker import Worker

    storage = LocalStorage(tmp_path / "objects")
    await org.rule(RetentionKind.RECORDINGS, 1)
    expired = await org.recording(await org.call(), storage, created_at=utcnow() - 2 * LATER)
    worker = Worker(sessions=sessions, access_log_days=7, storage=storage, recordings=config)
    [job] = [job for job in worker.jobs if job.name == "retention sweep"]
    assert job.every == 60
    swept = await job.run(worker.context)
    assert isinstance(swept, int) and swept >= 1
    assert await row(sessions, expired.id) is None
