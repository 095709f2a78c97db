"""Crypto-shredding: once the wrapped data key is gone, no copy anywhere can be read."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from db import SessionFactory
from recordings import (
    DecryptionError,
    KeyUnavailable,
    LegalHold,
    LocalStorage,
    Recording,
    RecordingsConfig,
    RecordingStatus,
    Storage,
    StoredObject,
    decrypt_file,
    fetch_recording,
    key_id_of,
    shred_recording,
    store_recording,
)
from recordings.crypto import new_data_key, unwrap_data_key
from tests.recordings.conftest import audit_actions, load, read, remove, spool_recording, write


async def test_shredding_makes_every_stored_copy_unreadable(
    sessions: SessionFactory, call_id: uuid.UUID, storage: Storage, config: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, media = await spool_recording(sessions, config, call_id, 100_000)
    assert await store_recording(sessions, storage, config, recording_id)
    row = await load(sessions, recording_id)
    # A copy made before the shred: a backup, a replica, a version the bucket keeps.
    backup = tmp_path / "backup.enc"
    await storage.get_to_file(row.storage_key, backup)
    old_wrapped_key = row.wrapped_key

    assert await shred_recording(sessions, storage, recording_id, actor="dpo", reason="erasure request") >= 1

    shredded = await load(sessions, recording_id)
    assert shredded.status == RecordingStatus.SHREDDED
    assert shredded.wrapped_key is None and shredded.spool_path is None
    assert not await storage.exists(row.storage_key)
    with pytest.raises(KeyUnavailable):
        await fetch_recording(storage, config, shredded, tmp_path / "out")
    # The backup is ciphertext that only the shredded key opens: the row has no key left to
    # unwrap, and no other key decrypts it.
    with pytest.raises(KeyUnavailable):
        unwrap_data_key(
            [config.master_key], shredded.wrapped_key, shredded.key_id, context=recording_id.bytes
        )
    for _ in range(3):
        with pytest.raises(DecryptionError):
            decrypt_file(backup, tmp_path / "out", new_data_key())
    # Someone who kept the old wrapped key still needs the master key: another one fails,
    # whether it is offered as it is or passed off under the real key's id.
    other = secrets.token_bytes(32)
    with pytest.raises(KeyUnavailable):
        unwrap_data_key([other], old_wrapped_key, row.key_id, context=recording_id.bytes)
    with pytest.raises(DecryptionError):
        unwrap_data_key([other], old_wrapped_key, key_id_of(other), context=recording_id.bytes)
    assert not (tmp_path / "out").exists()
    # (Control: the backup was the real recording, opened by the key that is now gone.)
    old_key = unwrap_data_key([config.master_key], old_wrapped_key, row.key_id, context=recording_id.bytes)
    decrypt_file(backup, tmp_path / "control", old_key)
    assert (tmp_path / "control").read_bytes() == media

    assert await audit_actions(sessions, recording_id) == [
        "recording.spool_deleted",
        "recording.shredded",
        "recording.deleted",
    ]
    # Shredding again is harmless, and the attempt is on record too.
    assert await shred_recording(sessions, storage, recording_id, actor="dpo", reason="again") == 0
    assert (await audit_actions(sessions, recording_id))[3:] == ["recording.deleted"]


async def test_a_spooled_recording_is_shredded_with_its_spool_files(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, _ = await spool_recording(sessions, config, call_id)
    await shred_recording(sessions, storage, recording_id, actor="retention", reason="consent withdrawn")
    assert list(config.spool_dir.iterdir()) == []
    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.SHREDDED and row.spool_path is None
    # The worker no longer picks it up.
    assert not await store_recording(sessions, storage, config, recording_id)


async def test_a_recording_under_legal_hold_cannot_be_shredded(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, _ = await spool_recording(sessions, config, call_id)
    assert await store_recording(sessions, storage, config, recording_id)
    async with sessions() as session:
        await session.execute(update(Recording).where(Recording.id == recording_id).values(legal_hold=True))
        await session.commit()

    with pytest.raises(LegalHold):
        await shred_recording(sessions, storage, recording_id, actor="retention", reason="deadline")
    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.STORED and row.wrapped_key is not None
    assert await storage.exists(row.storage_key)
    assert await audit_actions(sessions, recording_id) == ["recording.spool_deleted"]


async def test_a_rotated_out_master_key_still_opens_older_recordings(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    recording_id, media = await spool_recording(sessions, config, call_id)
    assert await store_recording(sessions, storage, config, recording_id)
    row = await load(sessions, recording_id)

    rotated = replace(config, master_key=secrets.token_bytes(32), retired_master_keys=(config.master_key,))
    await fetch_recording(storage, rotated, row, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == media
    forgotten = replace(config, master_key=secrets.token_bytes(32))
    with pytest.raises(KeyUnavailable):
        await fetch_recording(storage, forgotten, row, tmp_path / "out2")


class ShreddingStorage(LocalStorage):
    """The DPO shreds the recording while its upload is in flight."""

    def __init__(self, root: Path, sessions: SessionFactory, recording_id: uuid.UUID) -> None:
        super().__init__(root)
        self._sessions, self._recording_id = sessions, recording_id

    async def put_file(self, key: str, path: Path) -> StoredObject:
        ciphertext = read(path)  # the upload has the file open ...
        await shred_recording(self._sessions, self, self._recording_id, actor="dpo", reason="erasure")
        assert read(path) is None  # ... when the shred removes it from the spool
        write(path, ciphertext or b"")
        try:
            return await super().put_file(key, path)
        finally:
            remove(path)


async def test_a_recording_shredded_during_its_upload_leaves_no_object_behind(
    sessions: SessionFactory, call_id: uuid.UUID, config: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, _ = await spool_recording(sessions, config, call_id)
    storage = ShreddingStorage(tmp_path / "objects", sessions, recording_id)
    assert not await store_recording(sessions, storage, config, recording_id)

    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.SHREDDED and row.wrapped_key is None
    assert not await storage.exists(row.storage_key)
    assert list(config.spool_dir.iterdir()) == []
    assert await audit_actions(sessions, recording_id) == [
        "recording.shredded",
        "recording.deleted",  # by the shred: nothing uploaded yet
        "recording.deleted",  # by the uploader: the object that arrived after the shred
    ]
