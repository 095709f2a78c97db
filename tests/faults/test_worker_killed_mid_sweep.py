"""A ``loket worker`` SIGKILLed in the middle of a retention sweep, on SeaweedFS (a real S3
server) and a PostgreSQL database of the test's own: another worker finishes the sweep once the
dead one's leases have run out; S3 is away during its first sweeps (nothing is deleted, the rows
stay claimed) and comes back. Every expired
recording is gone, every stored version of it too, each with exactly one deletion receipt."""

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
from recordings import Recording, RecordingStatus, create_recording
from signaling.models import Call
from tests.conftest import Backend, make_world, service_missing
from tests.db.conftest import create_postgres_database, drop_postgres_database
from tests.integration.processes import LOKET, MASTER_KEY
from tests.recordings.conftest import Outage, make_s3_storage

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]

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


async def versions(s3: Any, bucket: str) -> int:
    listed = await asyncio.to_thread(s3.list_object_versions, Bucket=bucket, Prefix="recordings/")
    return len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))


async def test_a_worker_killed_mid_sweep_and_s3_gone_mid_sweep_delete_each_recording_once(
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
        call = Call(org_id=world.org_id, queue_id=world.queue_id, reference="FAULT", visitor_id="v")
        db.add(call)
        await db.flush()
        for _ in range(RECORDINGS):
            row = await create_recording(
                db, call_id=call.id, participant="visitor", spool_path=Path("/nonexistent"), delete_after=due
            )
            await storage.put_file(row.storage_key, source)
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
