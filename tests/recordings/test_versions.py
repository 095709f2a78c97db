"""Each upload records the object version it stored, and the retention sweep deletes known
versions by name, listing only the keys whose upload may have left another version (SeaweedFS,
a real versioned S3 server; SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from db import SessionFactory, utcnow
from privacy import sweep_expired
from recordings import Recording, RecordingsConfig, S3Storage, store_recording
from tests.recordings.conftest import S3_CREDENTIALS, load, spool_recording


class ListingCountingS3Storage(S3Storage):
    """S3Storage that remembers which keys it listed the versions of."""

    listed: list[str]

    def _list_versions(self, object_keys: list[str]) -> dict[str, list[str]]:
        self.listed += object_keys
        return super()._list_versions(object_keys)


def counting_storage(endpoint: str, bucket: str) -> ListingCountingS3Storage:
    storage = ListingCountingS3Storage(bucket, "recordings", endpoint_url=endpoint, **S3_CREDENTIALS)
    storage.listed = []
    return storage


def versions(s3: Any, bucket: str) -> list[str]:
    page = s3.list_object_versions(Bucket=bucket, Prefix="recordings/")
    return [entry["Key"] for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]


async def test_an_upload_records_its_version_and_is_not_flagged(
    sessions: SessionFactory,
    call_id: uuid.UUID,
    config: RecordingsConfig,
    s3_endpoint: str,
    bucket: str,
    s3: Any,
) -> None:
    storage = counting_storage(s3_endpoint, bucket)
    recording_id, _ = await spool_recording(sessions, config, call_id)
    assert await store_recording(sessions, storage, config, recording_id)
    await storage.stop()
    row = await load(sessions, recording_id)
    head = s3.head_object(Bucket=bucket, Key=f"recordings/{row.storage_key}")
    assert row.storage_version == head["VersionId"] and row.version_unknown is False


async def test_an_upload_that_failed_once_stays_flagged_after_it_succeeds(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, s3_endpoint: str, bucket: str
) -> None:
    recording_id, _ = await spool_recording(sessions, config, call_id)
    nowhere = counting_storage(s3_endpoint, "loket-no-such-bucket")
    assert not await store_recording(sessions, nowhere, config, recording_id)  # the PUT failed
    await nowhere.stop()
    assert (await load(sessions, recording_id)).version_unknown is True
    async with sessions() as session:  # due again now
        await session.execute(
            update(Recording).where(Recording.id == recording_id).values(next_attempt_at=None)
        )
        await session.commit()
    storage = counting_storage(s3_endpoint, bucket)
    assert await store_recording(sessions, storage, config, recording_id)
    await storage.stop()
    row = await load(sessions, recording_id)
    # Stored, with its version, but an earlier PUT may have left one: deletion will list.
    assert row.storage_version and row.version_unknown is True


async def test_the_sweep_deletes_known_versions_by_name_and_lists_only_flagged_keys(
    sessions: SessionFactory,
    call_id: uuid.UUID,
    config: RecordingsConfig,
    s3_endpoint: str,
    bucket: str,
    s3: Any,
) -> None:
    storage = counting_storage(s3_endpoint, bucket)
    ids = [(await spool_recording(sessions, config, call_id, 1000))[0] for _ in range(3)]
    for recording_id in ids:
        assert await store_recording(sessions, storage, config, recording_id)
    flagged = await load(sessions, ids[0])
    # A crash between a second PUT and its commit: a version the row does not know.
    s3.put_object(Bucket=bucket, Key=f"recordings/{flagged.storage_key}", Body=b"left behind")
    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == ids[0]).values(version_unknown=True))
        await session.execute(
            update(Recording).where(Recording.id.in_(ids)).values(delete_after=utcnow() - timedelta(days=1))
        )
        await session.commit()
    assert len(versions(s3, bucket)) == 4

    storage.listed.clear()
    assert await sweep_expired(sessions, storage, config) == 3
    await storage.stop()
    assert storage.listed == [f"recordings/{flagged.storage_key}"]
    assert versions(s3, bucket) == []


async def test_the_sweep_lists_rows_stored_before_versions_were_recorded(
    sessions: SessionFactory,
    call_id: uuid.UUID,
    config: RecordingsConfig,
    s3_endpoint: str,
    bucket: str,
    s3: Any,
) -> None:
    storage = counting_storage(s3_endpoint, bucket)
    recording_id, _ = await spool_recording(sessions, config, call_id, 1000)
    assert await store_recording(sessions, storage, config, recording_id)
    async with sessions() as session:
        await session.execute(
            update(Recording)
            .where(Recording.id == recording_id)
            .values(storage_version=None, delete_after=utcnow() - timedelta(days=1))
        )
        await session.commit()
    storage.listed.clear()
    assert await sweep_expired(sessions, storage, config) == 1
    await storage.stop()
    assert len(storage.listed) == 1 and versions(s3, bucket) == []
