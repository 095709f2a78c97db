"""Crypto-shredding: destroying a recording's data key, then its stored and spooled copies."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import update

from db import SessionFactory, audit
from recordings import queries
from recordings.errors import LegalHold
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage
from recordings.uploader import encrypted_path


async def shred_recording(
    sessions: SessionFactory,
    storage: Storage,
    recording_id: uuid.UUID,
    *,
    actor: str,
    reason: str,
) -> int:
    """Make ``recording_id`` unreadable everywhere, then delete its copies; returns objects deleted.

    First the wrapped data key is removed from the row (committed with an audit event): from
    that moment no copy, in any bucket version, backup or replica, can be decrypted. Then
    every object version and the spool files are deleted (a second audit event). If that
    second step fails it can be run again; the recording is already unreadable. Refused
    with ``LegalHold`` while the recording is under legal hold.
    """
    async with sessions() as session:
        recording = await queries.get_recording(session, recording_id, for_update=True)
        if recording.legal_hold:
            raise LegalHold(f"recording {recording_id} is under legal hold")
        storage_key, spool_path = recording.storage_key, recording.spool_path
        if recording.spool_node is not None:
            # On a media node's disk: its upload loop removes the files of a shredded row
            # (``leftover_spools``), so the row keeps naming them until then.
            spool_path = None
        had_key = recording.wrapped_key is not None
        if recording.status != RecordingStatus.SHREDDED or had_key:
            await session.execute(
                update(Recording)
                .where(Recording.id == recording_id)
                .values(
                    wrapped_key=None,
                    status=RecordingStatus.SHREDDED.value,
                    next_attempt_at=None,
                    claimed_by=None,
                    lease_until=None,
                )
            )
            await audit.record(
                session,
                org_id=await queries.org_of(session, recording_id),
                actor=actor,
                action="recording.shredded",
                target=f"recording:{recording_id}",
                details={"reason": reason, "had_key": had_key},
            )
        await session.commit()

    deleted = await storage.delete(storage_key)
    spool_files = 0
    if spool_path is not None:
        for path in (Path(spool_path), encrypted_path(Path(spool_path))):
            try:
                await asyncio.to_thread(path.unlink)
                spool_files += 1
            except FileNotFoundError:
                pass
    async with sessions() as session:
        await session.execute(
            update(Recording)
            .where(Recording.id == recording_id, Recording.spool_node.is_(None))
            .values(spool_path=None)
        )
        await audit.record(
            session,
            org_id=await queries.org_of(session, recording_id),
            actor=actor,
            action="recording.deleted",
            target=f"recording:{recording_id}",
            details={"reason": reason, "object_versions": deleted, "spool_files": spool_files},
        )
        await session.commit()
    return deleted
