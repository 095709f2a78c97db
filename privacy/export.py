"""The archive a visitor downloads when they ask for their call's data (GDPR art. 15 and 20).

One ZIP per export request:

- ``call.json``: the call (reference, queue name, language, times, outcome), its consents
  (text id and hash, language, times), its chat messages, the transcript's segments and a list
  of the recordings in the archive;
- ``transcript.vtt``: the transcript as WebVTT, when there is one;
- ``recordings/<participant>-<n>.webm``: each stored recording, decrypted.

The archive is personal data, so it is kept like a recording: encrypted with a data key of
its own, the key wrapped by the master key and kept on the request row, never next to the
object (``exports/`` in the recordings storage). It lives for ``EXPORT_LIFETIME``; then
``expire_exports`` crypto-shreds it (the wrapped key goes first, committed) and deletes every
stored version, with a receipt. Plaintext only ever exists in a private temporary folder
under the spool directory while the archive is built or served, and is removed right after.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, utcnow
from db.tables import CALLS, CHAT_MESSAGES, CONSENTS, QUEUES, TRANSCRIPTS
from privacy.attachments import export_entries
from privacy.call_keys import call_data_key, open_segments, open_text, open_vtt
from privacy.models import PrivacyRequest
from privacy.plaintext import plaintext_dir, remove_plaintext
from recordings.config import RecordingsConfig
from recordings.crypto import decrypt_file, encrypt_file, new_data_key, unwrap_data_key, wrap_data_key
from recordings.errors import ChecksumMismatch, KeyUnavailable
from recordings.export import fetch_recording
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = timedelta(hours=24)
EXPORT_FORMAT = 1
_ACTOR = "privacy"
# Binds a wrapped export key to its request, and keeps it from ever unwrapping as a recording's.
_WRAP_CONTEXT = b"loket/privacy-export/v1\x00"

# signaling's and transcription's tables, named (not imported): the columns an export shows.


@dataclass(frozen=True, slots=True)
class StoredExport:
    """Where an export's encrypted archive went, and how to read it back."""

    storage_key: str
    wrapped_key: bytes
    key_id: str
    bytes: int
    counts: dict[str, int]


def export_storage_key(request_id: uuid.UUID) -> str:
    """Fixed per request, so a retried export overwrites (never forks) its own object."""
    return f"exports/{request_id}.zip.enc"


def _context(request_id: uuid.UUID) -> bytes:
    return _WRAP_CONTEXT + request_id.bytes


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def call_document(
    session: AsyncSession, call_id: uuid.UUID
) -> tuple[dict[str, Any], str | None] | None:
    """``call.json`` (without its recordings list) and the WebVTT transcript; None when the
    call is gone."""
    call = (
        await session.execute(
            select(CALLS, QUEUES.c.name.label("queue_name"))
            .outerjoin(QUEUES, QUEUES.c.id == CALLS.c.queue_id)
            .where(CALLS.c.id == call_id)
        )
    ).one_or_none()
    if call is None:
        return None
    consents = await session.execute(
        select(CONSENTS).where(CONSENTS.c.call_id == call_id).order_by(CONSENTS.c.granted_at)
    )
    chat = await session.execute(
        select(CHAT_MESSAGES).where(CHAT_MESSAGES.c.call_id == call_id).order_by(CHAT_MESSAGES.c.created_at)
    )
    # The call's data key: its chat lines and transcript are sealed with it.
    text_key = await call_data_key(session, call_id, create=False)
    transcript = (
        await session.execute(select(TRANSCRIPTS).where(TRANSCRIPTS.c.call_id == call_id))
    ).one_or_none()
    done = transcript is not None and transcript.status == "done"
    document = {
        "format": EXPORT_FORMAT,
        "reference": call.reference,
        "queue": call.queue_name,
        "language": call.language,
        "created_at": _iso(call.created_at),
        "accepted_at": _iso(call.accepted_at),
        "ended_at": _iso(call.ended_at),
        "outcome": {"status": call.status, "end_reason": call.end_reason},
        # The visitor's own 1-5 rating of the call, if they gave one.
        "rating": call.rating,
        # What the host page passed (allowlisted keys only; signaling.context).
        "context": call.context,
        "consents": [
            {
                "party": row.party,
                "kind": row.kind,
                "granted": row.granted,
                "text_id": row.text_id,
                "text_hash": row.text_hash,
                # The organisation's version of the text (signaling.consent_texts); null: built in.
                "text_version": row.text_version,
                "language": row.language,
                "granted_at": _iso(row.granted_at),
                "withdrawn_at": _iso(row.withdrawn_at),
            }
            for row in consents
        ],
        "chat_messages": [
            {
                "party": row.party,
                # Sealed with the call's data key (privacy.call_keys); old rows are in clear.
                "text": open_text(text_key, call_id, row.id, row.text),
                "created_at": _iso(row.created_at),
            }
            for row in chat
        ],
        "transcript": (
            {
                "language": transcript.language,
                "redacted": transcript.redacted,
                # Sealed with the call's data key like the chat (privacy.call_keys).
                "segments": open_segments(text_key, call_id, transcript.id, transcript.segments) or [],
            }
            if transcript is not None and done
            else None
        ),
    }
    if transcript is None or not done:
        return document, None
    return document, open_vtt(text_key, call_id, transcript.id, transcript.vtt)


def _write_zip(
    path: Path,
    document: dict[str, Any],
    vtt: str | None,
    media: list[tuple[str, Path]],
    files: list[tuple[str, bytes]] | None = None,
) -> None:
    """The archive (blocking). Media is stored as is: WebM is compressed already."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "call.json",
            json.dumps(document, indent=2, ensure_ascii=False),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        if vtt is not None:
            archive.writestr("transcript.vtt", vtt, compress_type=zipfile.ZIP_DEFLATED)
        for name, source in media:
            archive.write(source, name, compress_type=zipfile.ZIP_STORED)
        for name, data in files or []:
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)


async def build_export(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    request_id: uuid.UUID,
    call_id: uuid.UUID,
) -> StoredExport | None:
    """Build, encrypt and store the archive of ``call_id``; None when the call is gone.

    Only stored recordings are included (the caller waits for pending uploads first).
    """
    async with sessions() as session:
        found = await call_document(session, call_id)
        # Photos are decrypted into memory only (each is a few hundred kB after re-encoding).
        attachment_list, attachment_files = await export_entries(
            session, (config.master_key, *config.retired_master_keys), call_id
        )
        recordings = list(
            await session.scalars(
                select(Recording)
                .where(Recording.call_id == call_id, Recording.status == RecordingStatus.STORED.value)
                .order_by(Recording.created_at, Recording.id)
            )
        )
    if found is None:
        return None
    document, vtt = found
    document["attachments"] = attachment_list
    folder = await asyncio.to_thread(plaintext_dir, config)
    try:
        media: list[tuple[str, Path]] = []
        listed: list[dict[str, Any]] = []
        per_party: dict[str, int] = {}
        for recording in recordings:
            per_party[recording.participant] = per_party.get(recording.participant, 0) + 1
            name = f"recordings/{recording.participant}-{per_party[recording.participant]}.webm"
            plain = folder / f"{recording.id}.webm"
            result = await fetch_recording(storage, config, recording, plain)
            media.append((name, plain))
            listed.append(
                {
                    "file": name,
                    "participant": recording.participant,
                    "created_at": _iso(recording.created_at),
                    "duration_seconds": recording.duration_seconds,
                    "bytes": result.plaintext_bytes,
                    "sha256": result.plaintext_sha256,
                }
            )
        document["recordings"] = listed
        archive, encrypted = folder / "export.zip", folder / "export.zip.enc"
        await asyncio.to_thread(_write_zip, archive, document, vtt, media, attachment_files)
        data_key = new_data_key()
        wrapped = wrap_data_key(config.master_key, data_key, context=_context(request_id))
        sealed = await asyncio.to_thread(
            encrypt_file, archive, encrypted, data_key, chunk_size=config.chunk_size
        )
        key = export_storage_key(request_id)
        # A retry after a crash may find an earlier attempt's object (whose key was never
        # committed, so it is unreadable): every version of it goes before the new one.
        await storage.delete_many([key])
        stored = await storage.put_file(key, encrypted)
        if stored.sha256 != sealed.sha256:
            raise ChecksumMismatch(f"stored export of request {request_id} is not the one written")
    finally:
        await remove_plaintext(folder)
    counts = {
        "recordings": len(listed),
        "consents": len(document["consents"]),
        "chat_messages": len(document["chat_messages"]),
        "transcripts": int(document["transcript"] is not None),
        "attachments": len(attachment_list),
    }
    return StoredExport(key, wrapped.wrapped, wrapped.key_id, sealed.bytes, counts)


async def fetch_export(storage: Storage, config: RecordingsConfig, request: PrivacyRequest, dst: Path) -> int:
    """Download and decrypt ``request``'s archive into ``dst``; returns its size.

    Raises ``KeyUnavailable`` once the export was shredded, ``DecryptionError`` when what
    storage holds is not authentic.
    """
    if request.export_storage_key is None:
        raise KeyUnavailable("this export was deleted")
    data_key = unwrap_data_key(
        (config.master_key, *config.retired_master_keys),
        request.export_wrapped_key,
        request.export_key_id,
        context=_context(request.id),
    )
    enc = dst.with_name(f".{dst.name}.enc")
    try:
        await storage.get_to_file(request.export_storage_key, enc)
        result = await asyncio.to_thread(decrypt_file, enc, dst, data_key)
    finally:
        await asyncio.to_thread(enc.unlink, missing_ok=True)
    return result.plaintext_bytes


async def shred_export(
    sessions: SessionFactory,
    storage: Storage,
    request_id: uuid.UUID,
    *,
    reason: str,
    org_id: uuid.UUID | None,
) -> bool:
    """Shred and delete one request's export; True when this call wrote its receipt.

    No lease is needed: the key goes in one conditional UPDATE, deleting the copies is
    idempotent, and only the worker whose final conditional UPDATE clears the storage key
    writes the receipt, so two workers at it delete once and receipt once.
    """
    async with sessions() as session:
        key = await session.scalar(
            select(PrivacyRequest.export_storage_key).where(PrivacyRequest.id == request_id)
        )
        if key is None:
            return False
        # 1. Crypto-shred, committed before any copy is touched.
        await session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .values(export_wrapped_key=None, export_key_id=None)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    # 2. Every stored version.
    deletion = await storage.delete_many([key])
    if deletion.failed:
        logger.warning("privacy: export of request %s keeps a stored copy for now; retried later", request_id)
        return False
    # 3. The row forgets the object, with the receipt, in one transaction.
    async with sessions() as session:
        gone = await session.scalar(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id, PrivacyRequest.export_storage_key == key)
            .values(export_storage_key=None, export_bytes=None)
            .returning(PrivacyRequest.id)
            .execution_options(synchronize_session=False)
        )
        if gone is None:
            await session.rollback()
            return False
        await audit.record(
            session,
            org_id=org_id,
            actor=_ACTOR,
            action="privacy_export.deleted",
            target=f"privacy_request:{request_id}",
            details={"reason": reason, "storage_key": key, "object_versions": deletion.versions.get(key, 0)},
        )
        await session.commit()
    return True


def org_of(request: PrivacyRequest) -> uuid.UUID | None:
    """The organisation a request concerns, kept in its result (the call row may be gone)."""
    raw = (request.result or {}).get("org_id")
    return uuid.UUID(raw) if isinstance(raw, str) else None


async def expire_exports(
    sessions: SessionFactory, storage: Storage, now: datetime | None = None, *, batch: int = 100
) -> int:
    """Shred and delete every export past its 24 hours; returns how many went."""
    now = now or utcnow()
    async with sessions() as session:
        due = list(
            await session.scalars(
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.export_expires_at <= now, PrivacyRequest.export_storage_key.is_not(None)
                )
                .order_by(PrivacyRequest.export_expires_at)
                .limit(batch)
            )
        )
    deleted = 0
    for request in due:
        if await shred_export(sessions, storage, request.id, reason="expired", org_id=org_of(request)):
            deleted += 1
    if deleted:
        logger.info("privacy: deleted %d expired exports", deleted)
    return deleted
