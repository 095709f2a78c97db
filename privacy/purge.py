"""Purging claimed recordings: the steps that the retention sweep and the erasure of a call
share, and why a crash between them is safe.

Recordings are first claimed under a lease (``_claim``: ``db.jobs.claim_rows``, ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL and one conditional ``UPDATE`` on SQLite), so concurrent workers
never take the same row. Then, for each claimed batch (``_purge``):

1. crypto-shred: the wrapped data keys are set to NULL and committed; from here on no copy
   anywhere (old object versions, backups, replicas) can be decrypted;
2. every stored copy goes (``Storage.delete_many``: on S3 all versions and delete markers, many
   recordings' keys per ``DeleteObjects`` request; the version a row's upload recorded is
   deleted by name, and only rows flagged ``version_unknown`` or without a version are listed;
   an erasure lists every key), then the spool files;
3. the rows are deleted in the same transaction as one audit event per recording, the
   deletion receipt: what (recording, call, participant, storage key, versions, files), why
   (the rule or the default, its days), when.

A recording whose spool file is on a media node's disk (``spool_node``; not yet uploaded, or
not yet cleaned up) cannot be unlinked here: after steps 1 and 2 its row stays, shredded and
released, naming the file, and that node's upload loop deletes the file (``leftover_spools``;
a dead node's, a node sharing its spool, see ``loket.spool_adoption``). The next sweep, or
the erasure run again, then deletes the row with its receipt; until then the erasure is not
complete.

Each step only touches rows this worker still holds. A worker that dies between steps leaves
its rows claimed; when the lease runs out the next sweep takes them and finishes, and since
the receipt is committed together with the row's deletion there is exactly one per recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, true, update

from db import SessionFactory, audit
from db.jobs import claim_rows
from privacy.models import RetentionKind
from privacy.retention import _why
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage
from recordings.uploader import encrypted_path

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 300.0
# Recordings claimed and purged together: one S3 DeleteObjects request's worth of keys.
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    call_id: uuid.UUID
    participant: str
    storage_key: str
    spool_path: str | None
    status: str
    delete_after: datetime | None
    spool_node: str | None
    storage_version: str | None = None
    version_unknown: bool = True

    @property
    def known_version(self) -> str | None:
        """The one version the row's upload stored, when nothing else can be under its key."""
        return None if self.version_unknown else self.storage_version

    @property
    def spooled_on_a_node(self) -> bool:
        """Its spool file is on a media node's disk, which only that node's loop can clean."""
        return self.spool_node is not None and self.spool_path is not None


async def _claim(
    sessions: SessionFactory,
    condition: ColumnElement[bool],
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[_Claimed]:
    """Take up to ``limit`` rows matching ``condition`` (lease free, not on hold) for this worker
    (``db.jobs.claim_rows``: SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite).

    In storage-key order, so a batch is a run of neighbouring keys that a few listings cover.
    The upload worker leases rows through the same columns: a recording being uploaded is
    not taken until its upload is done (or its uploader's lease ran out).
    """
    columns = (
        Recording.id,
        Recording.call_id,
        Recording.participant,
        Recording.storage_key,
        Recording.spool_path,
        Recording.status,
        Recording.delete_after,
        Recording.spool_node,
        Recording.storage_version,
        Recording.version_unknown,
    )
    async with sessions() as session:
        rows = await claim_rows(
            session,
            Recording,
            and_(condition, Recording.legal_hold.is_(False)),
            worker_id=worker_id,
            now=now,
            lease=lease,
            limit=limit,
            order_by=(Recording.storage_key,),
            columns=columns,
        )
        await session.commit()
    return [_Claimed(*tuple(row)) for row in rows]


def _remove_spool_files(spool_paths: Mapping[uuid.UUID, str], spool_dir: Path | None) -> dict[uuid.UUID, int]:
    """Unlink each recording's spool file and its encrypted twin, and the emptied call folder."""
    root = spool_dir.resolve() if spool_dir is not None else None
    removed: dict[uuid.UUID, int] = {}
    for recording_id, raw in spool_paths.items():
        path = Path(raw)
        if root is not None and not path.resolve().is_relative_to(root):
            logger.warning("retention: spool file of recording %s is outside the spool; left", recording_id)
            removed[recording_id] = 0
            continue
        count = 0
        for candidate in (path, encrypted_path(path)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                count += 1
        if root is not None and path.parent.resolve() != root:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty: the folder name is a call id
        removed[recording_id] = count
    return removed


@dataclass(frozen=True, slots=True)
class _Purge:
    """What one purge of claimed recordings is for and by whom."""

    actor: str
    reason: str
    worker_id: str
    now: datetime
    spool_dir: Path | None
    # For the sweep: shred only rows still due (a rule may have moved their deadline since).
    only_due: bool
    # For an erasure: list every key's versions, even where the upload recorded its version.
    # One call's few keys cost nothing to list, and a visitor's erasure must also take what
    # the database cannot know about (a version written outside Loket, a restored bucket).
    list_every_version: bool = False


async def _purge(sessions: SessionFactory, storage: Storage, claimed: Sequence[_Claimed], job: _Purge) -> int:
    """Shred, delete the copies of, and delete the claimed rows; returns how many went."""
    ids = [row.id for row in claimed]
    still_due: ColumnElement[bool] = (
        or_(Recording.status == RecordingStatus.SHREDDED.value, Recording.delete_after <= job.now)
        if job.only_due
        else true()
    )
    held_by_me = Recording.claimed_by == job.worker_id
    # 1. Crypto-shred, committed before any copy is touched.
    async with sessions() as session:
        shredded = set(
            await session.scalars(
                update(Recording)
                .where(Recording.id.in_(ids), held_by_me, Recording.legal_hold.is_(False), still_due)
                .values(wrapped_key=None, status=RecordingStatus.SHREDDED.value, next_attempt_at=None)
                .returning(Recording.id)
                .execution_options(synchronize_session=False)
            )
        )
        if len(shredded) < len(ids):
            # Put on hold or given a later deadline since we claimed them: not ours to delete.
            await session.execute(
                update(Recording)
                .where(Recording.id.in_([i for i in ids if i not in shredded]), held_by_me)
                .values(claimed_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        await session.commit()
    rows = [row for row in claimed if row.id in shredded]
    if not rows:
        return 0
    # 2. Every stored version, then the spool.
    # Known versions are deleted by name; only rows whose upload may have left another are listed.
    known = {} if job.list_every_version else {row.storage_key: v for row in rows if (v := row.known_version)}
    deletion = await storage.delete_many([row.storage_key for row in rows], known_versions=known)
    on_nodes = [row for row in rows if row.spooled_on_a_node and row.storage_key not in deletion.failed]
    if on_nodes:
        # Released, shredded, for their nodes to delete the spool files (module docstring).
        async with sessions() as session:
            await session.execute(
                update(Recording)
                .where(Recording.id.in_([row.id for row in on_nodes]), held_by_me)
                .values(claimed_by=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    done = [row for row in rows if row.storage_key not in deletion.failed and not row.spooled_on_a_node]
    spools = {row.id: row.spool_path for row in done if row.spool_path is not None}
    files = await asyncio.to_thread(_remove_spool_files, spools, job.spool_dir) if spools else {}
    if deletion.failed:
        # Left claimed: another sweep retries them once the lease has run out.
        logger.warning(
            "retention: %d recordings keep a stored copy for now; retried later", len(deletion.failed)
        )
    if not done:
        return 0
    # 3. The rows, with their receipts, in one transaction.
    async with sessions() as session:
        gone = set(
            await session.scalars(
                delete(Recording)
                .where(Recording.id.in_([row.id for row in done]), held_by_me)
                .returning(Recording.id)
                .execution_options(synchronize_session=False)
            )
        )
        why = await _why(session, RetentionKind.RECORDINGS, {row.call_id for row in done})
        receipts = []
        for row in done:
            if row.id not in gone:
                continue
            org_id, retention = why[row.call_id]
            details: dict[str, Any] = {
                "reason": job.reason,
                "recording_id": str(row.id),
                "call_id": str(row.call_id),
                "participant": row.participant,
                "storage_key": row.storage_key,
                "delete_after": row.delete_after.isoformat() if row.delete_after else None,
                "object_versions": deletion.versions.get(row.storage_key, 0),
                "spool_files": files.get(row.id, 0),
                # Shredded by an earlier sweep that stopped before finishing.
                "resumed": row.status == RecordingStatus.SHREDDED,
            }
            if job.only_due:
                details["retention"] = retention.why()
            receipts.append(
                audit.Entry(job.actor, "recording.deleted", f"recording:{row.id}", org_id, details)
            )
        await audit.record_many(session, receipts)
        await session.commit()
    return len(gone)
