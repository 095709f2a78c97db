"""A ``loket worker`` SIGKILLed in the middle of a retention sweep, then another in the middle of
an export, on SeaweedFS (a real S3 server) and a PostgreSQL database of the test's own. Another
worker finishes the sweep once the dead one's leases have run out; S3 is away during its first
sweeps (nothing is deleted, the rows stay claimed) and comes back. Every expired recording is
gone, every stored version of it too, each with exactly one deletion receipt; the export is
finished by the next worker, stored once, completed once."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select, update

from db import SessionFactory, create_engine, create_session_factory, migrate, utcnow
from db.audit import AuditEvent
from privacy.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from privacy.requests import create_request
from recordings import Recording, RecordingStatus, create_recording
from signaling.models import Call
from tests.conftest import Backend, make_world, service_missing
from tests.db.conftest import create_postgres_database, drop_postgres_database
from tests.integration.processes import LOKET, MASTER_KEY
from tests.recordings.conftest import Outage, make_s3_storage

# Four worker processes start one after the other (seconds of imports each, more under load).
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(240)]

RECORDINGS = 120


@pytest.fixture
async def sessions() -> AsyncIterator[SessionFactory]:
    """A database of this test alone: its worker sweeps everything due, and nothing of other
    tests may be due in it."""
    url = await create_postgres_database()
    if url is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    assert url is not None
    await asyncio.to_thread(migrate.upgrade_sync, url)
    engine = create_engine(url)
    factory = create_session_factory(engine)
    factory.url = url  # type: ignore[attr-defined]
    yield factory
    await engine.dispose()
    await drop_postgres_database(url)


@pytest.fixture
async def outage(s3_endpoint: str) -> AsyncIterator[Outage]:
    proxy = Outage(s3_endpoint)
    await proxy.start()
    yield proxy
    await proxy.stop()


def start_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], IO[str]]:
    log = log_path.open("w")
    process = subprocess.Popen(
        [LOKET, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent
    )
    return process, log


async def receipts(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as db:
        rows = await db.execute(
            select(AuditEvent.target, func.count())
            .where(AuditEvent.action == "recording.deleted")
            .group_by(AuditEvent.target)
        )
        return {target: count for target, count in rows.all()}


async def leases_run_out(sessions: SessionFactory) -> None:
    """The leases held run out: 5 min in production, here moved to the past."""
    async with sessions() as db:
        await db.execute(update(Recording).values(lease_until=utcnow() - timedelta(seconds=1)))
        await db.commit()


async def claimed(sessions: SessionFactory) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).where(Recording.claimed_by.is_not(None))) or 0)


async def request_claimed(sessions: SessionFactory, request_id: uuid.UUID) -> bool:
    async with sessions() as db:
        row = await db.get(PrivacyRequest, request_id, populate_existing=True)
        return row is not None and row.claimed_by is not None


async def request_status(sessions: SessionFactory, request_id: uuid.UUID) -> tuple[str, ...] | None:
    async with sessions() as db:
        row = await db.get(PrivacyRequest, request_id, populate_existing=True)
        if row is None:
            return None
        return (row.status, str(row.attempts), str(row.error), str(row.next_attempt_at), str(row.lease_until))


async def versions(s3: Any, bucket: str) -> int:
    listed = await asyncio.to_thread(s3.list_object_versions, Bucket=bucket, Prefix="recordings/")
    return len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))


async def test_workers_killed_mid_sweep_and_mid_export_and_s3_gone_lose_and_double_nothing(
    sessions: SessionFactory, outage: Outage, bucket: str, s3: Any, tmp_path: Path
) -> None:
    url: str = sessions.url  # type: ignore[attr-defined]
    world = await make_world(Backend("services", url, tmp_path))
    storage = make_s3_storage(outage.endpoint, bucket)
    due = utcnow() - timedelta(days=1)
    ids: list[uuid.UUID] = []
    source = tmp_path / "recording.enc"
    source.write_bytes(secrets.token_bytes(2000))
    async with sessions() as db:
        call = Call(
            org_id=world.org_id,
            queue_id=world.queue_id,
            reference="FAULT",
            visitor_id="v",
            status="ended",
            ended_at=utcnow(),
        )
        db.add(call)
        await db.flush()
        rows = [
            await create_recording(
                db, call_id=call.id, participant="visitor", spool_path=Path("/nonexistent"), delete_after=due
            )
            for _ in range(RECORDINGS)
        ]
        # Uploaded eight at a time, not one after the other: S3 round trips, not work.
        lanes = asyncio.Semaphore(8)

        async def upload(key: str) -> None:
            async with lanes:
                await storage.put_file(key, source)

        await asyncio.gather(*(upload(row.storage_key) for row in rows))
        for row in rows:
            await db.execute(
                update(Recording)
                .where(Recording.id == row.id)
                .values(
                    status=RecordingStatus.STORED.value, spool_path=None, wrapped_key=b"k" * 60, key_id="k"
                )
            )
            ids.append(row.id)
        await db.commit()
    assert await versions(s3, bucket) == RECORDINGS

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOKET_")},
        "LOKET_DATABASE_URL": url,
        "LOKET_STORAGE_URL": f"s3://{bucket}/recordings",
        "LOKET_S3_ENDPOINT_URL": outage.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LOKET_MASTER_KEY": MASTER_KEY,
        "LOKET_SPOOL_DIR": str(tmp_path / "spool"),
        "LOKET_RETENTION_EVERY_SECONDS": "1",
        "LOKET_PRIVACY_REQUESTS_EVERY_SECONDS": "1",
        "LOKET_TRANSCRIPTION_ENABLED": "false",
    }
    first, first_log = start_worker(env, tmp_path / "worker-1.log")
    try:
        deadline = time.monotonic() + 60
        # Mid-sweep: the worker has claimed the due rows and not yet committed their receipts.
        while not await claimed(sessions):
            assert first.poll() is None and time.monotonic() < deadline, (
                tmp_path / "worker-1.log"
            ).read_text()
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first_log.close()
    at_kill = sum((await receipts(sessions)).values())
    print(
        f"\nworker SIGKILLed mid-sweep: {at_kill} of {RECORDINGS} receipts committed, "
        f"{await versions(s3, bucket)} object versions left"
    )
    assert at_kill < RECORDINGS, "the kill came after the sweep"

    await leases_run_out(sessions)

    # S3 goes away while the next worker sweeps, and comes back.
    await outage.stop()
    second, second_log = start_worker(env, tmp_path / "worker-2.log")
    try:
        log = tmp_path / "worker-2.log"
        while "worker running" not in log.read_text():
            assert second.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # sweeps every second: a few tries against no S3
        assert sum((await receipts(sessions)).values()) == at_kill  # nothing deleted without S3
        assert "keep a stored copy for now" in log.read_text()
        await outage.start()
        await leases_run_out(sessions)  # what failed is left claimed, retried once the lease runs out
        back_at = time.monotonic()
        while True:
            async with sessions() as db:
                left = await db.scalar(select(func.count()).select_from(Recording))
            if left == 0:
                break
            assert second.poll() is None and time.monotonic() - back_at < 60, left
            await asyncio.sleep(0.2)
        print(f"the second worker finished the sweep {time.monotonic() - back_at:.2f} s after S3 was back")
    finally:
        second.terminate()
        second.wait(timeout=20)
        second_log.close()

    assert await receipts(sessions) == {f"recording:{rid}": 1 for rid in ids}
    assert await versions(s3, bucket) == 0

    # Mid-export: a staff export of the call, its worker SIGKILLed once it has claimed it.
    _, admin = await world.add_user("admin")
    async with sessions() as db:
        request = await create_request(
            db, kind=PrivacyRequestKind.EXPORT, call_id=call.id, requested_by=admin
        )
        await db.commit()
    exporter, exporter_log = start_worker(env, tmp_path / "worker-3.log")
    try:
        deadline = time.monotonic() + 60
        while not await request_claimed(sessions, request.id):
            assert exporter.poll() is None and time.monotonic() < deadline, (
                tmp_path / "worker-3.log"
            ).read_text()
            await asyncio.sleep(0.01)
        exporter.send_signal(signal.SIGKILL)
        exporter.wait(timeout=10)
    finally:
        exporter_log.close()
    async with sessions() as db:
        await db.execute(update(PrivacyRequest).values(lease_until=utcnow() - timedelta(seconds=1)))
        await db.commit()
    last, last_log = start_worker(env, tmp_path / "worker-4.log")
    try:
        killed_at = time.monotonic()
        while (status := await request_status(sessions, request.id)) and status[
            0
        ] != PrivacyRequestStatus.DONE:
            assert last.poll() is None and time.monotonic() - killed_at < 60, status
            await asyncio.sleep(0.2)
        finished = time.monotonic() - killed_at
        print(f"the export was finished by the next worker {finished:.2f} s after it started")
    finally:
        last.terminate()
        last.wait(timeout=20)
        last_log.close()
    async with sessions() as db:
        completed = await db.scalar(
            select(func.count()).where(
                AuditEvent.action == "privacy_request.completed",
                AuditEvent.target == f"privacy_request:{request.id}",
            )
        )
    assert completed == 1
    assert await versions(s3, bucket) == 1  # the one archive, stored once
