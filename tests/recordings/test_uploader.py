"""The spool-to-storage pipeline on SQLite and PostgreSQL, local and S3 storage."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from db import SessionFactory, utcnow
from recordings import (
    LocalStorage,
    Recording,
    RecordingsConfig,
    RecordingStatus,
    Storage,
    StoredObject,
    create_recording,
    fetch_recording,
    key_id_of,
    mark_spooled,
    retry_pending_uploads,
    store_recording,
)
from recordings.queries import claim_upload
from recordings.uploader import encrypted_path
from tests.recordings.conftest import (
    Outage,
    audit_actions,
    load,
    make_s3_storage,
    read,
    remove,
    spool_recording,
    write,
)

REPO = Path(__file__).resolve().parents[2]


async def test_a_finished_recording_is_stored_verified_and_only_then_its_spool_cleared(
    sessions: SessionFactory, call_id: uuid.UUID, storage: Storage, config: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, media = await spool_recording(sessions, config, call_id, 300_000)
    assert await store_recording(sessions, storage, config, recording_id)

    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.STORED
    assert row.stored_at is not None and row.spool_path is None
    assert (row.attempts, row.last_error, row.claimed_by, row.lease_until) == (0, None, None, None)
    assert row.wrapped_key is not None and row.key_id == key_id_of(config.master_key)
    assert row.plaintext_sha256 == hashlib.sha256(media).hexdigest()
    assert row.duration_seconds == 12.5
    # The row's checksum is the one of the object storage holds, taken while encrypting.
    head = await storage.head(row.storage_key)
    assert (head.bytes, head.sha256) == (row.bytes, row.sha256)
    assert list(config.spool_dir.iterdir()) == []

    # What storage holds is ciphertext; with the row's wrapped key it opens to the media.
    raw = tmp_path / "raw"
    await storage.get_to_file(row.storage_key, raw)
    assert media[1000:1064] not in raw.read_bytes()
    out = tmp_path / "out.webm"
    await fetch_recording(storage, config, row, out)
    assert out.read_bytes() == media
    assert await audit_actions(sessions, recording_id) == ["recording.spool_deleted"]


async def test_an_s3_outage_keeps_the_recording_spooled_until_a_retry_stores_it(
    sessions: SessionFactory,
    call_id: uuid.UUID,
    outage: Outage,
    bucket: str,
    config: RecordingsConfig,
    tmp_path: Path,
) -> None:
    storage = make_s3_storage(outage.endpoint, bucket)
    recording_id, media = await spool_recording(sessions, config, call_id, 200_000)
    spool = Path((await load(sessions, recording_id)).spool_path)
    await outage.stop()

    t0 = utcnow()
    assert not await store_recording(sessions, storage, config, recording_id, now=t0)
    first = await load(sessions, recording_id)
    assert first.status == RecordingStatus.SPOOLED
    assert first.attempts == 1 and "StorageUnavailable" in first.last_error
    assert t0 + timedelta(seconds=10) <= first.next_attempt_at < t0 + timedelta(seconds=15)
    assert first.claimed_by is None and first.lease_until is None
    # Nothing was deleted; the wrapped key was committed before the upload was tried.
    assert read(spool) == media and read(encrypted_path(spool)) is not None
    assert first.wrapped_key is not None

    # Not due yet: left alone.
    assert await retry_pending_uploads(sessions, storage, config, now=t0 + timedelta(seconds=5)) == 0
    assert (await load(sessions, recording_id)).attempts == 1

    # Due, but S3 is still down: the delay doubles.
    t1 = first.next_attempt_at + timedelta(seconds=1)
    assert await retry_pending_uploads(sessions, storage, config, now=t1) == 0
    second = await load(sessions, recording_id)
    assert second.status == RecordingStatus.SPOOLED and second.attempts == 2
    assert t1 + timedelta(seconds=20) <= second.next_attempt_at < t1 + timedelta(seconds=25)
    assert second.wrapped_key == first.wrapped_key, "the encrypted spool file is reused, key and all"
    assert read(spool) == media

    await outage.start()  # S3 is back, same address
    t2 = second.next_attempt_at + timedelta(seconds=1)
    assert await retry_pending_uploads(sessions, storage, config, now=t2) == 1
    stored = await load(sessions, recording_id)
    assert stored.status == RecordingStatus.STORED and stored.attempts == 2 and stored.last_error is None
    head = await storage.head(stored.storage_key)
    assert (head.bytes, head.sha256) == (stored.bytes, stored.sha256)
    assert read(spool) is None and read(encrypted_path(spool)) is None
    out = tmp_path / "out.webm"
    await fetch_recording(storage, config, stored, out)
    assert (
        hashlib.sha256(out.read_bytes()).hexdigest()
        == stored.plaintext_sha256
        == hashlib.sha256(media).hexdigest()
    )
    await storage.stop()


class CountingStorage(LocalStorage):
    """Local storage that counts uploads per key and how many ran at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.uploads: Counter[str] = Counter()
        self.running = 0
        self.most_at_once = 0

    async def put_file(self, key: str, path: Path) -> StoredObject:
        self.uploads[key] += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.05)  # a slow network: the other worker gets its turn
            return await super().put_file(key, path)
        finally:
            self.running -= 1


async def test_two_workers_upload_each_recording_exactly_once(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = CountingStorage(tmp_path / "objects")
    ids = [(await spool_recording(sessions, config, call_id, 20_000))[0] for _ in range(8)]

    results = await asyncio.gather(
        retry_pending_uploads(sessions, storage, config, worker_id="worker-a"),
        retry_pending_uploads(sessions, storage, config, worker_id="worker-b"),
    )
    assert sum(results) == 8
    assert storage.most_at_once == 2, "the two workers really ran side by side"
    rows = [await load(sessions, recording_id) for recording_id in ids]
    assert {row.status for row in rows} == {RecordingStatus.STORED}
    assert storage.uploads == Counter({row.storage_key: 1 for row in rows})
    assert list(config.spool_dir.iterdir()) == []


async def test_a_crashed_workers_lease_is_taken_over_only_once_it_expires(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, _ = await spool_recording(sessions, config, call_id)
    t0 = utcnow()
    async with sessions() as session:
        claimed = await claim_upload(session, worker_id="crashed", now=t0, lease=timedelta(seconds=300))
        await session.commit()
    assert claimed is not None and claimed.id == recording_id and claimed.status == RecordingStatus.UPLOADING

    assert await retry_pending_uploads(sessions, storage, config, now=t0 + timedelta(seconds=299)) == 0
    assert await retry_pending_uploads(sessions, storage, config, now=t0 + timedelta(seconds=301)) == 1
    assert (await load(sessions, recording_id)).status == RecordingStatus.STORED


async def test_a_recording_whose_spool_file_vanished_is_marked_failed_for_good(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, _ = await spool_recording(sessions, config, call_id)
    remove(Path((await load(sessions, recording_id)).spool_path))

    assert not await store_recording(sessions, storage, config, recording_id)
    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.FAILED and row.next_attempt_at is None
    assert "SpoolFileMissing" in row.last_error
    assert await retry_pending_uploads(sessions, storage, config, now=utcnow() + timedelta(days=1)) == 0


async def test_a_spool_path_outside_the_spool_directory_is_never_read_or_deleted(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    elsewhere = tmp_path / "elsewhere" / "important.webm"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"not a recording")
    async with sessions() as session:
        row = await create_recording(session, call_id=call_id, participant="adviser", spool_path=elsewhere)
        await mark_spooled(session, row.id, duration_seconds=1.0)
        await session.commit()

    assert not await store_recording(sessions, storage, config, row.id)
    assert (await load(sessions, row.id)).status == RecordingStatus.FAILED
    assert elsewhere.read_bytes() == b"not a recording"
    assert not (tmp_path / "objects").exists()


async def test_spool_files_left_by_a_crash_after_storing_are_removed_by_the_next_pass(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, media = await spool_recording(sessions, config, call_id)
    spool = Path((await load(sessions, recording_id)).spool_path)
    assert await store_recording(sessions, storage, config, recording_id)
    # As if the worker died between marking the row stored and deleting the spool.
    write(spool, media)
    write(encrypted_path(spool), b"ciphertext")
    async with sessions() as session:
        await session.execute(
            update(Recording).where(Recording.id == recording_id).values(spool_path=str(spool))
        )
        await session.commit()

    assert await retry_pending_uploads(sessions, storage, config) == 0
    assert read(spool) is None and read(encrypted_path(spool)) is None
    assert (await load(sessions, recording_id)).spool_path is None
    assert await audit_actions(sessions, recording_id) == [
        "recording.spool_deleted",
        "recording.spool_deleted",
    ]


def test_the_pipeline_runs_without_signaling_or_the_shell_loaded(sqlite_url: str, tmp_path: Path) -> None:
    """Domain packages never import ``loket`` or ``signaling`` (docs/architecture.md): store a recording
    in a fresh interpreter that has loaded neither."""
    script = Path(__file__).with_name("standalone_pipeline.py")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script), sqlite_url, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=50,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


async def test_each_spool_is_uploaded_only_by_its_own_node_and_a_key_resolves_under_its_spool(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    rows = {}
    for node in (None, "media-a"):
        key = Path(str(call_id), f"visitor-{node or 'worker'}.webm")
        (config.spool_dir / key).parent.mkdir(parents=True, exist_ok=True)
        (config.spool_dir / key).write_bytes(os.urandom(20_000))
        async with sessions() as session:
            row = await create_recording(
                session, call_id=call_id, participant="visitor", spool_path=key, spool_node=node
            )
            await mark_spooled(session, row.id, duration_seconds=1.0)
            await session.commit()
        rows[node] = row.id
    later = utcnow() + timedelta(seconds=1)

    # Another node's spool is on another disk: neither the worker nor another node takes it.
    assert await retry_pending_uploads(sessions, storage, config, now=later, spool_node="media-b") == 0
    assert await retry_pending_uploads(sessions, storage, config, now=later) == 1
    assert (await load(sessions, rows["media-a"])).status == RecordingStatus.SPOOLED
    assert await retry_pending_uploads(sessions, storage, config, now=later, spool_node="media-a") == 1
    for recording_id in rows.values():
        row = await load(sessions, recording_id)
        assert row.status == RecordingStatus.STORED and row.spool_path is None
    assert not list((config.spool_dir / str(call_id)).glob("*.webm"))


async def test_a_spool_key_leading_out_of_the_spool_directory_is_never_read(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    outside = config.spool_dir.parent / "outside.webm"
    outside.write_bytes(b"not a recording")
    async with sessions() as session:
        row = await create_recording(
            session,
            call_id=call_id,
            participant="adviser",
            spool_path=Path("..", "outside.webm"),
            spool_node="n",
        )
        await mark_spooled(session, row.id, duration_seconds=1.0)
        await session.commit()
    assert not await store_recording(
        sessions, LocalStorage(tmp_path / "objects"), config, row.id, spool_node="n"
    )
    assert (await load(sessions, row.id)).status == RecordingStatus.FAILED
    assert outside.read_bytes() == b"not a recording"


async def test_a_shredded_recording_spooled_on_a_media_node_is_removed_by_that_node(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    from recordings import shred_recording

    storage = LocalStorage(tmp_path / "objects")
    key = Path(str(call_id), "visitor-node.webm")
    (config.spool_dir / key).parent.mkdir(parents=True, exist_ok=True)
    (config.spool_dir / key).write_bytes(os.urandom(5_000))
    async with sessions() as session:
        row = await create_recording(
            session, call_id=call_id, participant="visitor", spool_path=key, spool_node="media-a"
        )
        await session.commit()

    await shred_recording(sessions, storage, row.id, actor="test", reason="erasure")
    # The signalling side cannot reach the node's disk: the row keeps naming the file.
    assert (await load(sessions, row.id)).spool_path == str(key)
    assert (config.spool_dir / key).exists()
    await retry_pending_uploads(sessions, storage, config, spool_node="media-a")
    assert not (config.spool_dir / key).exists()
    assert (await load(sessions, row.id)).spool_path is None
