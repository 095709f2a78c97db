"""Privacy requests on SQLite and PostgreSQL, local storage and S3 (moto over HTTP): erasure by
reference code leaves nothing of the call but receipts, an export holds the call's data and
goes after 24 hours, and workers that die or run side by side finish each request once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import secrets
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organisation, Queue
from db import AccessLogEntry, SessionFactory, audit, create_engine, create_session_factory, utcnow
from db.audit import AuditEvent
from db.keys import InstallationKeys
from privacy import (
    EXPORT_LIFETIME,
    DataErased,
    PrivacyRequest,
    PrivacyRequestKind,
    create_request,
    expire_exports,
    fetch_export,
    find_request,
    issue_privacy_key,
    new_privacy_key,
    normalise_privacy_key,
    process_requests,
    request_worker,
)
from privacy.request_worker import DEFAULT_LEASE_SECONDS, claim_requests
from recordings import (
    Recording,
    RecordingsConfig,
    S3Storage,
    Storage,
    StoredObject,
    store_recording,
)
from signaling.models import Call, ChatMessage, Consent
from signaling.reference import new_reference
from tests.recordings.conftest import read, spool_recording
from transcription.models import Transcript

LATER = timedelta(seconds=DEFAULT_LEASE_SECONDS + 1)
VTT = "WEBVTT\n\n00:00.000 --> 00:02.000\n<v Visitor>Hallo, mijn auto maakt lawaai.\n"
SEGMENTS = [{"start": 0.0, "end": 2.0, "speaker": "Visitor", "text": "Hallo, mijn auto maakt lawaai."}]


KEYS = InstallationKeys(master_key=secrets.token_bytes(32))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions with installation keys: the privacy keys' HMAC is derived from them."""
    engine = create_engine(database_url)
    yield create_session_factory(engine, keys=KEYS)
    await engine.dispose()


@dataclass
class Seeded:
    """One finished call with everything a call can leave behind."""

    org_id: uuid.UUID
    call_id: uuid.UUID
    reference: str
    # What ending the call gave its visitor (signaling.ending): their one privacy credential.
    privacy_key: str
    visitor_id: str
    media: dict[uuid.UUID, bytes]
    spool: Path
    erased: list[DataErased] = field(default_factory=list)

    async def on_erased(self, session: AsyncSession, erased: DataErased) -> None:
        assert session.in_transaction()
        self.erased.append(erased)


@pytest.fixture
async def seeded(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig
) -> AsyncIterator[Seeded]:
    async with sessions() as session:
        org = Organisation(name="Privacy Test")
        session.add(org)
        await session.flush()
        queue = Queue(org_id=org.id, name="Werkplaats")
        session.add(queue)
        await session.flush()
        now = utcnow()
        call = Call(
            org_id=org.id,
            queue_id=queue.id,
            reference=new_reference(),
            visitor_id=secrets.token_hex(8),
            language="nl",
            status="ended",
            end_reason="visitor_ended",
            rating=4,
            accepted_at=now,
            ended_at=now + timedelta(minutes=3),
        )
        session.add(call)
        await session.flush()
        session.add_all(
            [
                Consent(
                    call_id=call.id,
                    party="visitor",
                    granted=True,
                    text_id="recording-org-v2",
                    text_hash="a" * 64,
                    text_version=2,
                    language="nl",
                ),
                ChatMessage(call_id=call.id, party="visitor", text="Mijn kenteken is 12-ABC-3"),
                ChatMessage(call_id=call.id, party="adviser", text="Dank u, ik kijk even."),
                Transcript(call_id=call.id, status="done", language="nl", segments=SEGMENTS, vtt=VTT),
                AccessLogEntry(
                    occurred_at=now,
                    ip="192.0.2.7",
                    user_agent="test",
                    method="POST",
                    path="/api/v1/widget/sessions",
                    status=200,
                    duration_ms=3,
                    visitor_id=call.visitor_id,
                ),
            ]
        )
        privacy_key = await issue_privacy_key(session, call.id)
        await session.commit()
        org_id, call_id, reference, visitor_id = org.id, call.id, call.reference, call.visitor_id
    media: dict[uuid.UUID, bytes] = {}
    for participant in ("visitor", "adviser"):
        recording_id, data = await spool_recording(sessions, config, call_id, 30_000, participant=participant)
        assert await store_recording(sessions, storage, config, recording_id)
        media[recording_id] = data
    yield Seeded(org_id, call_id, reference, privacy_key, visitor_id, media, config.spool_dir)
    async with sessions() as session:
        await session.execute(delete(Organisation).where(Organisation.id == org_id))
        await session.commit()


async def ask(sessions: SessionFactory, kind: PrivacyRequestKind, privacy_key: str) -> tuple[uuid.UUID, str]:
    async with sessions() as session:
        created = await create_request(session, kind=kind, privacy_key=privacy_key)
        await session.commit()
    return created.id, created.secret


async def load(sessions: SessionFactory, request_id: uuid.UUID) -> PrivacyRequest:
    async with sessions() as session:
        found = await session.get(PrivacyRequest, request_id)
        assert found is not None
        return found


async def events(sessions: SessionFactory, action: str, target: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target == target)
        )
        return list(rows.all())


async def versions(storage: Storage, s3: Any, key: str) -> int:
    """How many stored versions (delete markers included) of ``key`` exist anywhere."""
    if isinstance(storage, S3Storage):
        listing = s3.list_object_versions(Bucket=storage.bucket, Prefix=f"{storage.prefix}/{key}")
        return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
    return int(await storage.exists(key))


async def test_erasure_by_privacy_key_leaves_nothing_of_the_call_but_the_receipts(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig, seeded: Seeded, s3: Any
) -> None:
    async with sessions() as session:
        keys = list(
            await session.scalars(select(Recording.storage_key).where(Recording.call_id == seeded.call_id))
        )
    # An earlier export of the same call holds its data too.
    export_id, _ = await ask(sessions, PrivacyRequestKind.EXPORT, seeded.privacy_key)
    await process_requests(sessions, storage, config, worker_id="w")
    export_key = (await load(sessions, export_id)).export_storage_key
    assert export_key is not None and await versions(storage, s3, export_key) == 1
    if isinstance(storage, S3Storage):
        # An older version and a delete marker: a plain DELETE would leave them behind.
        object_key = f"{storage.prefix}/{keys[0]}"
        s3.put_object(Bucket=storage.bucket, Key=object_key, Body=b"an older attempt")
        s3.delete_object(Bucket=storage.bucket, Key=object_key)
    # A recording never uploaded: only in the spool.
    spooled_id, _ = await spool_recording(sessions, config, seeded.call_id, 1000)
    spooled = Path(str((await load_recording(sessions, spooled_id)).spool_path))

    # Typed as a visitor might: lower case, spaces for dashes, without the PK prefix.
    typed = seeded.privacy_key.removeprefix("PK-").replace("-", " ").lower()
    assert normalise_privacy_key(typed) == seeded.privacy_key
    request_id, secret = await ask(sessions, PrivacyRequestKind.ERASE, typed)
    assert await process_requests(sessions, storage, config, on_erased=seeded.on_erased, worker_id="w") == 1

    request = await load(sessions, request_id)
    assert (request.status, request.error, request.call_id, request.claimed_by) == ("done", None, None, None)
    assert request.completed_at is not None and request.reference == ""
    assert request.result is not None and request.result["counts"] == {
        "recordings": 3,
        "consents": 1,
        "chat_messages": 2,
        "transcripts": 1,
        "access_log_rows": 1,
        "exports": 1,
    }
    async with sessions() as session:
        for model, column in (
            (Call, Call.id),
            (Consent, Consent.call_id),
            (ChatMessage, ChatMessage.call_id),
            (Transcript, Transcript.call_id),
            (Recording, Recording.call_id),
        ):
            assert (
                await session.scalar(select(func.count()).select_from(model).where(column == seeded.call_id))
                == 0
            )
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(AccessLogEntry.visitor_id == seeded.visitor_id)
            )
            == 0
        )
        # The links and hashes: the shared test database holds other tests' events, anchored
        # under their own master keys (tests/db/test_audit_anchor.py checks anchors).
        assert (await audit.verify(session, check_anchors=False)).ok
    for key in keys:
        assert await versions(storage, s3, key) == 0
    assert await versions(storage, s3, export_key) == 0
    assert read(spooled) is None
    export = await load(sessions, export_id)
    assert (export.export_storage_key, export.export_wrapped_key, export.reference) == (None, None, "")
    # The receipts: each recording, the call, the export, the request.
    for recording_id in [*seeded.media, spooled_id]:
        [receipt] = await events(sessions, "recording.deleted", f"recording:{recording_id}")
        assert receipt.details["reason"] == "privacy request"
    [call_receipt] = await events(sessions, "call.deleted", f"call:{seeded.call_id}")
    assert call_receipt.details["access_log_rows"] == 1 and call_receipt.org_id == seeded.org_id
    assert len(await events(sessions, "privacy_export.deleted", f"privacy_request:{export_id}")) == 1
    [done] = await events(sessions, "privacy_request.completed", f"privacy_request:{request_id}")
    assert done.details["status"] == "done" and done.org_id == seeded.org_id
    assert seeded.reference not in json.dumps([call_receipt.details, done.details])
    # The webhook: ids, counts and times only.
    [erased] = seeded.erased
    payload = erased.payload()
    assert set(payload) == {"request_id", "call_id", "requested_by", "counts", "requested_at", "erased_at"}
    assert (payload["request_id"], payload["call_id"], payload["requested_by"]) == (
        str(request_id),
        str(seeded.call_id),
        "visitor",
    )
    assert seeded.reference not in json.dumps(payload) and seeded.visitor_id not in json.dumps(payload)
    # The secret still opens the request's status; nothing else does.
    async with sessions() as session:
        assert await find_request(session, request_id, secret) is not None
        assert await find_request(session, request_id, secret + "x") is None
        assert await find_request(session, request_id, None) is None


async def load_recording(sessions: SessionFactory, recording_id: uuid.UUID) -> Recording:
    async with sessions() as session:
        found = await session.get(Recording, recording_id)
        assert found is not None
        return found


async def test_an_unknown_privacy_key_is_taken_like_any_other_and_ends_not_found(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig
) -> None:
    request_id, _ = await ask(sessions, PrivacyRequestKind.ERASE, new_privacy_key())
    request = await load(sessions, request_id)
    assert (request.status, request.call_id, request.result) == ("received", None, None)
    await process_requests(sessions, storage, config, worker_id="w")
    assert (await load(sessions, request_id)).status == "not_found"


async def test_an_export_holds_the_call_its_transcript_and_the_decrypted_recordings_for_24_hours(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    seeded: Seeded,
    s3: Any,
    tmp_path: Path,
) -> None:
    request_id, _ = await ask(sessions, PrivacyRequestKind.EXPORT, seeded.privacy_key)
    await process_requests(sessions, storage, config, worker_id="w")
    request = await load(sessions, request_id)
    assert request.status == "done" and request.export_storage_key == f"exports/{request_id}.zip.enc"
    assert request.export_expires_at is not None and request.completed_at is not None
    assert request.export_expires_at - request.completed_at == EXPORT_LIFETIME
    assert request.result is not None and request.result["counts"] == {
        "recordings": 2,
        "consents": 1,
        "chat_messages": 2,
        "transcripts": 1,
        "attachments": 0,
    }
    # What storage holds is ciphertext.
    stored = tmp_path / "stored.enc"
    await storage.get_to_file(request.export_storage_key, stored)
    assert b"call.json" not in stored.read_bytes()

    archive = tmp_path / "export.zip"
    size = await fetch_export(storage, config, request, archive)
    assert size == archive.stat().st_size
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as unpacked:
        names = sorted(unpacked.namelist())
        assert names == [
            "call.json",
            "recordings/adviser-1.webm",
            "recordings/visitor-1.webm",
            "transcript.vtt",
        ]
        document = json.loads(unpacked.read("call.json"))
        assert unpacked.read("transcript.vtt").decode() == VTT
        by_participant = {entry["participant"]: entry for entry in document["recordings"]}
        async with sessions() as session:
            for recording_id, media in seeded.media.items():
                recording = await session.get(Recording, recording_id)
                assert recording is not None
                entry = by_participant[recording.participant]
                assert unpacked.read(entry["file"]) == media
                assert entry["bytes"] == len(media) and entry["sha256"] == recording.plaintext_sha256
    assert document["reference"] == seeded.reference and document["queue"] == "Werkplaats"
    assert document["language"] == "nl"
    assert document["outcome"] == {"status": "ended", "end_reason": "visitor_ended"}
    assert document["rating"] == 4
    assert document["accepted_at"] and document["ended_at"] and document["created_at"]
    [consent] = document["consents"]
    assert (
        consent["text_id"],
        consent["text_version"],
        consent["text_hash"],
        consent["language"],
        consent["granted"],
    ) == ("recording-org-v2", 2, "a" * 64, "nl", True)
    assert consent["granted_at"] and consent["withdrawn_at"] is None
    assert [(m["party"], m["text"]) for m in document["chat_messages"]] == [
        ("visitor", "Mijn kenteken is 12-ABC-3"),
        ("adviser", "Dank u, ik kijk even."),
    ]
    assert document["transcript"]["segments"] == SEGMENTS
    # No visitor identifiers beyond the reference.
    assert seeded.visitor_id not in json.dumps(document)

    # The database is shared with other tests' exports: only this request's fate is asserted.
    # Not yet due: kept.
    await expire_exports(sessions, storage, utcnow() + EXPORT_LIFETIME - timedelta(minutes=5))
    assert await versions(storage, s3, request.export_storage_key) == 1
    assert (await load(sessions, request_id)).export_wrapped_key is not None
    assert await expire_exports(sessions, storage, utcnow() + EXPORT_LIFETIME + timedelta(minutes=1)) >= 1
    assert await versions(storage, s3, request.export_storage_key) == 0
    gone = await load(sessions, request_id)
    assert (gone.export_storage_key, gone.export_wrapped_key, gone.export_key_id) == (None, None, None)
    [receipt] = await events(sessions, "privacy_export.deleted", f"privacy_request:{request_id}")
    assert receipt.details["reason"] == "expired" and receipt.org_id == seeded.org_id
    # Again: nothing left to do for this request, no second receipt.
    await expire_exports(sessions, storage, utcnow() + 2 * EXPORT_LIFETIME)
    assert len(await events(sessions, "privacy_export.deleted", f"privacy_request:{request_id}")) == 1


class Killed(BaseException):
    """The worker process dying: not an error it could handle."""


async def test_a_worker_killed_mid_erasure_is_finished_once_by_another_after_its_lease(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id, _ = await ask(sessions, PrivacyRequestKind.ERASE, seeded.privacy_key)
    finish = request_worker._finish

    async def die(*args: Any, **kwargs: Any) -> bool:
        raise Killed

    # Worker A erases everything, then dies before it can mark the request done.
    monkeypatch.setattr(request_worker, "_finish", die)
    with pytest.raises(Killed):
        await process_requests(sessions, storage, config, on_erased=seeded.on_erased, worker_id="A")
    monkeypatch.setattr(request_worker, "_finish", finish)
    left = await load(sessions, request_id)
    assert (left.status, left.claimed_by) == ("processing", "A")
    async with sessions() as session:
        assert await session.get(Call, seeded.call_id) is None

    # While A's lease runs, nobody else touches it.
    assert await process_requests(sessions, storage, config, on_erased=seeded.on_erased, worker_id="B") == 0
    # Once it ran out, B finishes: once, with the counts of what A erased.
    await process_requests(
        sessions, storage, config, on_erased=seeded.on_erased, worker_id="B", now=utcnow() + LATER
    )
    done = await load(sessions, request_id)
    assert (done.status, done.claimed_by, done.attempts) == ("done", None, 2)
    assert done.result is not None and done.result["counts"]["recordings"] == 2
    assert len(await events(sessions, "privacy_request.completed", f"privacy_request:{request_id}")) == 1
    assert len(await events(sessions, "call.deleted", f"call:{seeded.call_id}")) == 1
    assert [erased.request_id for erased in seeded.erased] == [request_id]
    await process_requests(sessions, storage, config, on_erased=seeded.on_erased, now=utcnow() + 2 * LATER)
    assert len(seeded.erased) == 1


async def test_a_claimed_and_abandoned_request_is_taken_over_when_its_lease_runs_out(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig, seeded: Seeded
) -> None:
    request_id, _ = await ask(sessions, PrivacyRequestKind.EXPORT, seeded.privacy_key)
    assert await claim_requests(
        sessions, worker_id="A", now=utcnow(), lease=timedelta(seconds=DEFAULT_LEASE_SECONDS), limit=10
    ) == [request_id]
    assert await process_requests(sessions, storage, config, worker_id="B") == 0
    await process_requests(sessions, storage, config, worker_id="B", now=utcnow() + LATER)
    request = await load(sessions, request_id)
    assert request.status == "done" and request.export_storage_key is not None


async def test_two_workers_side_by_side_never_process_a_request_twice(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig, seeded: Seeded
) -> None:
    async with sessions() as session:
        other = Call(
            org_id=seeded.org_id, reference=new_reference(), visitor_id=secrets.token_hex(8), status="ended"
        )
        session.add(other)
        await session.flush()
        other_key = await issue_privacy_key(session, other.id)
        await session.commit()
    requests = [
        await ask(sessions, PrivacyRequestKind.EXPORT, seeded.privacy_key),
        await ask(sessions, PrivacyRequestKind.ERASE, other_key),
        await ask(sessions, PrivacyRequestKind.ERASE, new_privacy_key()),
        await ask(sessions, PrivacyRequestKind.EXPORT, new_privacy_key()),
    ]
    await asyncio.gather(
        *(
            process_requests(sessions, storage, config, on_erased=seeded.on_erased, worker_id=name, batch=1)
            for name in ("A", "B")
        )
    )
    statuses = [(await load(sessions, request_id)).status for request_id, _ in requests]
    assert statuses == ["done", "done", "not_found", "not_found"]
    for request_id, _ in requests:
        assert len(await events(sessions, "privacy_request.completed", f"privacy_request:{request_id}")) == 1
        assert (await load(sessions, request_id)).attempts == 1
    assert len(seeded.erased) == 1


async def test_a_call_on_legal_hold_is_not_erased_and_the_request_fails_with_the_reason(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig, seeded: Seeded
) -> None:
    async with sessions() as session:
        await session.execute(
            update(Transcript).where(Transcript.call_id == seeded.call_id).values(legal_hold=True)
        )
        await session.commit()
    request_id, _ = await ask(sessions, PrivacyRequestKind.ERASE, seeded.privacy_key)
    await process_requests(sessions, storage, config, on_erased=seeded.on_erased, worker_id="w")
    request = await load(sessions, request_id)
    assert (request.status, request.error) == ("failed", "legal_hold")
    async with sessions() as session:
        assert await session.get(Call, seeded.call_id) is not None
        assert await session.scalar(select(func.count()).where(Recording.call_id == seeded.call_id)) == 2
    assert seeded.erased == []


async def test_erasure_waits_for_a_call_still_going_on_and_then_erases_it(
    sessions: SessionFactory, storage: Storage, config: RecordingsConfig, seeded: Seeded
) -> None:
    async with sessions() as session:
        await session.execute(update(Call).where(Call.id == seeded.call_id).values(status="active"))
        await session.commit()
    request_id, _ = await ask(sessions, PrivacyRequestKind.ERASE, seeded.privacy_key)
    await process_requests(sessions, storage, config, worker_id="w")
    waiting = await load(sessions, request_id)
    assert (waiting.status, waiting.claimed_by, waiting.error) == (
        "processing",
        None,
        "waiting for the call to end",
    )
    async with sessions() as session:
        assert await session.get(Call, seeded.call_id) is not None
        await session.execute(update(Call).where(Call.id == seeded.call_id).values(status="ended"))
        await session.commit()
    # Taken again within the minute the worker polls in.
    await process_requests(sessions, storage, config, worker_id="w", now=utcnow() + timedelta(seconds=31))
    done = await load(sessions, request_id)
    assert (done.status, done.error) == ("done", None)
    async with sessions() as session:
        assert await session.get(Call, seeded.call_id) is None


async def test_an_export_that_fails_for_good_leaves_no_stored_object_behind(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    seeded: Seeded,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id, _ = await ask(sessions, PrivacyRequestKind.EXPORT, seeded.privacy_key)
    async with sessions() as session:
        # Its last try: the claim makes it attempt MAX_ATTEMPTS.
        await session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .values(attempts=request_worker.MAX_ATTEMPTS - 1)
        )
        await session.commit()
    put_file = storage.put_file

    async def stored_but_not_verified(key: str, path: Path) -> StoredObject:
        # The archive reaches storage, then the step fails (here: the checksum does not match).
        stored = await put_file(key, path)
        return dataclasses.replace(stored, sha256="0" * 64)

    monkeypatch.setattr(storage, "put_file", stored_but_not_verified)
    await process_requests(sessions, storage, config, worker_id="w")
    request = await load(sessions, request_id)
    assert (request.status, request.error) == ("failed", "checksum_mismatch")
    assert request.export_storage_key is None
    # Its key was never kept, so the object could never be read or found again: it goes now.
    assert await versions(storage, s3, f"exports/{request_id}.zip.enc") == 0
