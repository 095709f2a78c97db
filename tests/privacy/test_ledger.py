"""Erasure survives a restore: every erasure appends its receipt to the ledger in storage, and
after a database backup from before the erasure is copied back, ``loket privacy replay --since``
erases the call again, so nothing of it stays readable. On a SQLite file of the test's own (the
backup is a copy of the file), with the local storage backend the CLI is configured with."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts import directory
from db import SessionFactory, create_engine, create_session_factory, migrate, utcnow
from db.keys import InstallationKeys
from privacy import (
    ErasureReceipt,
    PrivacyKey,
    PrivacyRequestKind,
    append_receipt,
    create_request,
    issue_privacy_key,
    process_requests,
    read_receipts,
)
from recordings import LocalStorage, Recording, RecordingsConfig, Storage
from signaling.models import Call, ChatMessage
from tests.privacy.seeding import Org

LOKET = Path(sys.executable).with_name("loket")
MASTER_KEY = secrets.token_bytes(32)


@dataclass
class Installation:
    """One embedded installation: its database file, its storage, and how the CLI reaches both."""

    db_file: Path
    storage_root: Path
    spool: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_file}"

    def env(self) -> dict[str, str]:
        environment = {name: value for name, value in os.environ.items() if not name.startswith("LOKET_")}
        environment.update(
            LOKET_DATABASE_URL=self.url,
            LOKET_STORAGE_URL=f"file://{self.storage_root}",
            LOKET_SPOOL_DIR=str(self.spool),
            LOKET_MASTER_KEY=base64.b64encode(MASTER_KEY).decode(),
        )
        return environment


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    return Installation(tmp_path / "loket.db", tmp_path / "recordings", tmp_path / "spool")


@pytest.fixture
async def sessions(installation: Installation) -> AsyncIterator[SessionFactory]:
    await migrate.upgrade(installation.url)
    engine = create_engine(installation.url)
    yield create_session_factory(engine, keys=InstallationKeys(MASTER_KEY))
    await engine.dispose()


async def seeded_call(org: Org, storage: LocalStorage) -> tuple[uuid.UUID, Recording]:
    call_id = await org.call(org.sales)
    recording = await org.recording(call_id, storage)
    await org.chat(call_id, utcnow())
    async with org.sessions() as db:
        call = await db.get(Call, call_id)
        assert call is not None
        call.status = "ended"
        await db.commit()
    return call_id, recording


async def what_is_left(sessions: SessionFactory, storage: LocalStorage, call_id: uuid.UUID, key: str) -> dict:
    async with sessions() as db:
        return {
            "call": await db.get(Call, call_id) is not None,
            "recordings": await db.scalar(select(func.count()).where(Recording.call_id == call_id)),
            "wrapped_keys": await db.scalar(
                select(func.count()).where(Recording.call_id == call_id, Recording.wrapped_key.is_not(None))
            ),
            "chat": await db.scalar(select(func.count()).where(ChatMessage.call_id == call_id)),
            "privacy_key": await db.get(PrivacyKey, call_id) is not None,
            "stored_object": await storage.exists(key),
        }


GONE = {
    "call": False,
    "recordings": 0,
    "wrapped_keys": 0,
    "chat": 0,
    "privacy_key": False,
    "stored_object": False,
}


async def replay(installation: Installation, since: str) -> subprocess.CompletedProcess[str]:
    """``loket privacy replay --since`` as an operator runs it after a restore."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(LOKET), "privacy", "replay", "--since", since],
        env=installation.env(),
        cwd=installation.db_file.parent,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.timeout(600)
async def test_a_restored_backup_is_erased_again_by_replaying_the_ledger(
    installation: Installation, sessions: SessionFactory, tmp_path: Path
) -> None:
    storage = LocalStorage(installation.storage_root)
    config = RecordingsConfig(
        master_key=MASTER_KEY, storage_url=f"file://{installation.storage_root}", spool_dir=installation.spool
    )
    async with sessions() as db:
        org_row = await directory.create_org(db, name="Garage Herstel", actor="test")
        sales = await directory.create_queue(
            db, org_id=org_row.id, actor="test", name="Sales", languages=["nl"]
        )
        repairs = await directory.create_queue(
            db, org_id=org_row.id, actor="test", name="Repairs", languages=["nl"]
        )
        await db.commit()
    org = Org(sessions, org_row.id, sales.id, repairs.id, tmp_path)
    erased_call, erased_recording = await seeded_call(org, storage)
    kept_call, kept_recording = await seeded_call(org, storage)
    async with sessions() as db:
        privacy_key = await issue_privacy_key(db, erased_call)
        await db.commit()

    # The nightly backup, taken before the visitor asks for erasure.
    await sessions.kw["bind"].dispose()
    backup = tmp_path / "backup-loket.db"
    shutil.copyfile(installation.db_file, backup)
    backup_time = utcnow()

    async with sessions() as db:
        await create_request(db, kind=PrivacyRequestKind.ERASE, privacy_key=privacy_key)
        await db.commit()
    assert await process_requests(sessions, storage, config) == 1
    assert await what_is_left(sessions, storage, erased_call, erased_recording.storage_key) == GONE
    [receipt] = await read_receipts(storage, since=backup_time - timedelta(minutes=1))
    assert (receipt.call_id, receipt.org_id) == (erased_call, org.id)
    assert await read_receipts(storage, since=utcnow() + timedelta(seconds=1)) == []

    # The database is restored from the backup: the erased call's rows and wrapped keys are back.
    await sessions.kw["bind"].dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{installation.db_file}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, installation.db_file)
    restored = await what_is_left(sessions, storage, erased_call, erased_recording.storage_key)
    assert restored["call"] and restored["wrapped_keys"] == 1 and restored["chat"] == 1
    assert restored["privacy_key"]

    result = await replay(installation, backup_time.isoformat())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("replayed 1 erasure receipts since"), result.stdout
    assert "1 calls erased again" in result.stdout

    await sessions.kw["bind"].dispose()
    assert await what_is_left(sessions, storage, erased_call, erased_recording.storage_key) == GONE
    kept = await what_is_left(sessions, storage, kept_call, kept_recording.storage_key)
    assert kept == {
        **kept,
        "call": True,
        "recordings": 1,
        "wrapped_keys": 1,
        "chat": 1,
        "stored_object": True,
    }

    # Replaying again changes nothing (idempotent), and a bad time is one clear line.
    again = await replay(installation, backup_time.isoformat())
    assert again.returncode == 0 and "0 calls erased again, 1 already gone" in again.stdout, again.stdout
    bad = await replay(installation, "yesterday")
    assert bad.returncode != 0 and "ISO time" in bad.stderr


async def test_the_ledger_lists_receipts_since_a_time_on_every_storage(storage: Storage) -> None:
    """The same behaviour on the local directory and S3: appended receipts are read back from
    ``since`` on, oldest first; nothing else under the storage is taken for one."""
    now = utcnow()
    old = ErasureReceipt(uuid.uuid4(), uuid.uuid4(), now - timedelta(days=3), "privacy request")
    new = ErasureReceipt(uuid.uuid4(), None, now, "privacy request", request_id=uuid.uuid4())
    keys = [await append_receipt(storage, receipt) for receipt in (new, old)]
    assert len(set(keys)) == 2 and all(key.startswith("ledger/erasures/") for key in keys)
    assert await read_receipts(storage, since=now - timedelta(days=7)) == [old, new]
    assert await read_receipts(storage, since=now - timedelta(days=1)) == [new]
    assert await read_receipts(storage, since=now + timedelta(seconds=1)) == []
