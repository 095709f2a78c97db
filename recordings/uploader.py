"""From the local spool to storage, without ever losing a recording.

For one recording: encrypt the spooled file to ``<file>.enc`` with a fresh data key (whose
wrapped form is committed to the row *before* any ciphertext leaves the machine), upload,
verify the stored object's SHA-256 against the one computed while encrypting, mark the row
stored, and only then delete the spool files. Any failure leaves the files and the row as
they were, with ``attempts``, ``last_error`` and a capped exponential ``next_attempt_at``;
``retry_pending_uploads`` (run periodically by the worker) picks it up again.

Every step is idempotent and done under a lease (``claimed_by``/``lease_until``, from
``db.jobs``), so two workers never upload one recording at once and a crashed worker's rows are
taken over once its lease runs out. The lease is renewed while the upload runs and only then: an
upload that is cancelled (the worker gave the run up at its timeout, or was stopped) keeps its
row ``uploading`` and leaves the lease to run out. It does not hand the row back at once, since
a storage call cut off here may still be finishing in its thread; the next worker re-uploads the
same encrypted file (its wrapped key was committed first), so the object ends up the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit
from db.jobs import Clock, backoff, default_worker_id, lease_kept, update_if_held
from recordings import queries
from recordings.config import RecordingsConfig
from recordings.crypto import encrypt_file, new_data_key, wrap_data_key
from recordings.errors import ChecksumMismatch, RecordingsError, SpoolFileMissing
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage, sha256_file
from recordings.types import EventHook

logger = logging.getLogger(__name__)

_ERROR_LENGTH = 1000
# Who the audit trail names for what the pipeline deletes.
_ACTOR = "recordings.uploader"


def encrypted_path(spool_path: Path) -> Path:
    return spool_path.with_name(spool_path.name + ".enc")


class _LeaseLost(RecordingsError):
    code = "lease_lost"


def _spool_file(config: RecordingsConfig, recording: Recording) -> Path:
    """The row's spool file, refused unless it lies inside the spool directory (we delete it later).

    A relative ``spool_path`` is a spool key (``media.spool``), resolved under this process's
    spool directory: a media node names files that way, since its paths mean nothing elsewhere."""
    if recording.spool_path is None:
        raise SpoolFileMissing(f"recording {recording.id} has no spool file")
    path = (config.spool_dir / recording.spool_path).resolve()
    if not path.is_relative_to(config.spool_dir.resolve()):
        raise SpoolFileMissing(f"spool file of recording {recording.id} is outside the spool directory")
    return path


def _matching_file(path: Path, sha256: str, size: int) -> bool:
    """Whether ``path`` exists with this SHA-256 and size (an earlier attempt's encrypted file)."""
    if not path.is_file():
        return False
    return sha256_file(path) == (size, sha256)


async def _encrypt(
    sessions: SessionFactory, config: RecordingsConfig, recording: Recording, spool: Path, worker_id: str
) -> tuple[Path, str, int]:
    """The encrypted spool file and its SHA-256 and size, reusing one left by an earlier attempt."""
    enc = encrypted_path(spool)
    sha256, size = recording.sha256, recording.bytes
    if (
        recording.wrapped_key is not None
        and sha256 is not None
        and size is not None
        and await asyncio.to_thread(_matching_file, enc, sha256, size)
    ):
        return enc, sha256, size
    if not await asyncio.to_thread(spool.is_file):
        raise SpoolFileMissing(f"spool file of recording {recording.id} is gone")
    data_key = new_data_key()
    wrapped = wrap_data_key(config.master_key, data_key, context=recording.id.bytes)
    result = await asyncio.to_thread(encrypt_file, spool, enc, data_key, chunk_size=config.chunk_size)
    del data_key
    # The wrapped key is committed before any ciphertext leaves this machine: an uploaded
    # object is never left without the key that opens it.
    async with sessions() as session:
        held = await update_if_held(
            session,
            Recording,
            recording.id,
            worker_id,
            wrapped_key=wrapped.wrapped,
            key_id=wrapped.key_id,
            sha256=result.sha256,
            plaintext_sha256=result.plaintext_sha256,
            bytes=result.bytes,
        )
        await session.commit()
    if not held:
        raise _LeaseLost(f"lost the upload lease of recording {recording.id}")
    return enc, result.sha256, result.bytes


async def _remove_spool(sessions: SessionFactory, recording_id: uuid.UUID, spool: Path, actor: str) -> None:
    """Delete the spool files, then clear ``spool_path`` and write the audit event."""
    removed = 0
    for path in (spool, encrypted_path(spool)):
        try:
            await asyncio.to_thread(path.unlink)
            removed += 1
        except FileNotFoundError:
            pass
    async with sessions() as session:
        # Conditional, so two workers finishing the same clean-up write one audit event.
        status = await session.scalar(
            update(Recording)
            .where(Recording.id == recording_id, Recording.spool_path.is_not(None))
            .values(spool_path=None)
            .returning(Recording.status)
        )
        if status is not None:
            await audit.record(
                session,
                org_id=await queries.org_of(session, recording_id),
                actor=actor,
                action="recording.spool_deleted",
                target=f"recording:{recording_id}",
                details={"files": removed, "status": status},
            )
        await session.commit()


async def _fail(
    sessions: SessionFactory,
    config: RecordingsConfig,
    recording: Recording,
    worker_id: str,
    clock: Clock,
    exc: BaseException,
) -> bool:
    """Record a failed attempt; False when the lease was no longer ours (nothing recorded)."""
    message = f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH]
    attempts = recording.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": message,
        "claimed_by": None,
        "lease_until": None,
    }
    if isinstance(exc, SpoolFileMissing):
        # Nothing left to upload, ever: final, and loud.
        values.update(status=RecordingStatus.FAILED.value, next_attempt_at=None)
        logger.error("recording %s cannot be stored: %s", recording.id, message)
    else:
        delay = backoff(attempts, base=config.retry_base_seconds, cap=config.retry_max_seconds)
        values.update(status=RecordingStatus.SPOOLED.value, next_attempt_at=clock() + delay)
        logger.warning("upload of recording %s failed (attempt %d): %s", recording.id, attempts, message)
    async with sessions() as session:
        held = await update_if_held(session, Recording, recording.id, worker_id, **values)
        await session.commit()
    return held


async def _abandon_if_shredded(
    sessions: SessionFactory, storage: Storage, recording: Recording, spool: Path
) -> None:
    """Our lease is gone: if the row was shredded meanwhile, remove what we just uploaded."""
    async with sessions() as session:
        current = await queries.get_recording(session, recording.id)
    if current.status != RecordingStatus.SHREDDED:
        return
    deleted = await storage.delete(recording.storage_key)
    files = 0
    for path in (spool, encrypted_path(spool)):
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)
            files += 1
    async with sessions() as session:
        await audit.record(
            session,
            org_id=await queries.org_of(session, recording.id),
            actor=_ACTOR,
            action="recording.deleted",
            target=f"recording:{recording.id}",
            details={"reason": "shredded during upload", "object_versions": deleted, "spool_files": files},
        )
        await session.commit()


async def _upload_claimed(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    recording: Recording,
    worker_id: str,
    clock: Clock,
    on_stored: EventHook | None = None,
) -> bool:
    spool: Path | None = None
    try:
        spool = _spool_file(config, recording)
        async with lease_kept(
            sessions,
            Recording,
            recording.id,
            worker_id,
            lease_seconds=config.upload_lease_seconds,
            clock=clock,
        ):
            enc, sha256, size = await _encrypt(sessions, config, recording, spool, worker_id)
            # Flagged before the PUT: a crash between the PUT and the commit below leaves a
            # version nobody recorded, which deleting the row must then look for.
            earlier_unknown = recording.version_unknown
            async with sessions() as session:
                held = await update_if_held(session, Recording, recording.id, worker_id, version_unknown=True)
                await session.commit()
            if not held:
                raise _LeaseLost(f"lost the upload lease of recording {recording.id}")
            stored = await storage.put_file(recording.storage_key, enc)
            if stored.sha256 != sha256 or stored.bytes != size:
                raise ChecksumMismatch(f"storage reports another checksum for recording {recording.id}")
            async with sessions() as session:
                stored_at = clock()
                held = await update_if_held(
                    session,
                    Recording,
                    recording.id,
                    worker_id,
                    status=RecordingStatus.STORED.value,
                    stored_at=stored_at,
                    storage_version=stored.version_id,
                    # An earlier attempt's PUT may have left a version of its own.
                    version_unknown=earlier_unknown,
                    next_attempt_at=None,
                    last_error=None,
                    claimed_by=None,
                    lease_until=None,
                )
                if held and on_stored is not None:
                    await _report_stored(session, recording, stored_at, on_stored)
                await session.commit()
            if not held:
                raise _LeaseLost(f"lost the upload lease of recording {recording.id}")
    except _LeaseLost:
        logger.warning("recording %s was taken from this worker during its upload", recording.id)
        if spool is not None:
            await _abandon_if_shredded(sessions, storage, recording, spool)
        return False
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if not isinstance(exc, RecordingsError | OSError):
            logger.exception("unexpected error uploading recording %s", recording.id)
        if not await _fail(sessions, config, recording, worker_id, clock, exc) and spool is not None:
            await _abandon_if_shredded(sessions, storage, recording, spool)
        return False
    # Stored and verified: only now may the spool go.
    await _remove_spool(sessions, recording.id, spool, actor=_ACTOR)
    logger.info("recording %s stored (%d bytes)", recording.id, size)
    return True


async def _report_stored(
    session: AsyncSession, recording: Recording, stored_at: datetime, on_stored: EventHook
) -> None:
    """``recording.stored``, in the transaction that marks it stored: ids and times only."""
    org_id = await queries.org_of(session, recording.id)
    if org_id is None:
        return
    payload = {
        "recording_id": str(recording.id),
        "call_id": str(recording.call_id),
        "participant": recording.participant,
        "stored_at": stored_at.isoformat(),
    }
    await on_stored(session, org_id, "recording.stored", payload)


async def store_recording(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    recording_id: uuid.UUID,
    *,
    now: datetime | None = None,
    worker_id: str | None = None,
    on_stored: EventHook | None = None,
    spool_node: str | None = None,
) -> bool:
    """Store one spooled recording now (media calls this when a file is finished).

    Returns True when it is stored; False when another worker holds it or this attempt
    failed (then it is left for ``retry_pending_uploads``). ``on_stored`` is called in the
    transaction that marks it stored (the shell owes the ``recording.stored`` webhook there).
    """
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    async with sessions() as session:
        recording = await queries.claim_upload(
            session,
            worker_id=worker_id,
            now=clock(),
            lease=timedelta(seconds=config.upload_lease_seconds),
            recording_id=recording_id,
            spool_node=spool_node,
        )
        await session.commit()
    if recording is None:
        return False
    return await _upload_claimed(sessions, storage, config, recording, worker_id, clock, on_stored)


async def retry_pending_uploads(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    now: datetime | None = None,
    *,
    worker_id: str | None = None,
    limit: int = 100,
    on_stored: EventHook | None = None,
    spool_node: str | None = None,
) -> int:
    """One pass of the upload worker: store every due recording, one claim at a time.

    Also finishes spool clean-ups a crash interrupted. Returns how many recordings it stored.
    Safe to run in any number of workers at once. Only the recordings spooled where this
    process reads (``spool_node``: a media node's own id; ``None``: the workers' spool) are
    taken, so a media node restarted after a kill stores what its spool still holds.
    """
    clock = Clock.starting(now)
    worker_id = worker_id or default_worker_id()
    lease = timedelta(seconds=config.upload_lease_seconds)
    async with sessions() as session:
        leftovers = await queries.leftover_spools(session, spool_node=spool_node)
    for leftover in leftovers:
        if leftover.spool_path is not None:
            with contextlib.suppress(SpoolFileMissing):
                spool = _spool_file(config, leftover)
                await _remove_spool(sessions, leftover.id, spool, actor=_ACTOR)
    stored = 0
    for _ in range(limit):
        async with sessions() as session:
            recording = await queries.claim_upload(
                session, worker_id=worker_id, now=clock(), lease=lease, spool_node=spool_node
            )
            await session.commit()
        if recording is None:
            break
        if await _upload_claimed(sessions, storage, config, recording, worker_id, clock, on_stored):
            stored += 1
    return stored
