"""The worker's side of privacy requests: a job on rows (docs/architecture.md, "Worker").

``process_requests`` claims due requests under a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, one conditional ``UPDATE`` on SQLite) and does each one's idempotent steps:

- *erase*: once the call is over, the counts of what is there are committed first (so a
  resumed run reports what was erased, not what was left); ``erase_call_data`` removes the
  recordings (every copy), the call with its consents, chat and transcript, and the visitor's
  access-log rows, with receipts; the erasure's receipt is appended to the ledger in storage
  (``privacy.ledger``: a restored backup is erased again by ``loket privacy replay``); the
  call's export archives are shredded; then, in one
  transaction that only the lease holder can commit, the request is marked done with its own
  receipt and the ``data.erased`` webhook (``on_erased``: recordings knows no webhooks).
- *export*: once no upload of the call is pending, the archive is built, encrypted and
  stored (``privacy.export``), and kept for 24 hours.

A worker killed mid-request leaves its lease; when it runs out another worker takes the
request and finishes it, once: every finishing ``UPDATE`` is conditional on holding the lease.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit
from db.access_log import AccessLogEntry
from db.jobs import Clock, claim_rows, default_worker_id, lease_kept
from db.tables import CALLS, CHAT_MESSAGES, CONSENTS, TRANSCRIPTS
from privacy.erasure import erase_call_data, refuse_if_held
from privacy.export import (
    EXPORT_LIFETIME,
    build_export,
    export_storage_key,
    org_of,
    shred_export,
)
from privacy.ledger import ErasureReceipt, append_receipt
from privacy.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from privacy.requests import call_of
from privacy.types import DataErased, OnErased
from recordings.config import RecordingsConfig
from recordings.errors import LegalHold
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage

logger = logging.getLogger(__name__)

ACTOR = "privacy"
REASON = "privacy request"
DEFAULT_LEASE_SECONDS = 120.0
# A failing step is retried after 30 s, 60 s, ... up to 10 minutes, and given up (failed)
# after MAX_ATTEMPTS. A request waits for a call still going on (and an export also for its
# uploads) every 30 s, at most MAX_WAITS times: a call left "active" by a crash must not
# hold an erasure back for ever. Every claim counts as an attempt, waits included, so a request
# that waited its fill still gets ten tries before it is given up.
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 600.0
MAX_WAITS = 20
MAX_ATTEMPTS = MAX_WAITS + 10
_LIVE_CALL = ("waiting", "ringing", "active")
# Media is still writing these: erasing now would race the recorder.
_BEING_RECORDED = (RecordingStatus.RECORDING.value,)
_NOT_STORED = (
    RecordingStatus.RECORDING.value,
    RecordingStatus.SPOOLED.value,
    RecordingStatus.UPLOADING.value,
)


# -- claiming ---------------------------------------------------------------------------------


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        PrivacyRequest.status.in_(
            [PrivacyRequestStatus.RECEIVED.value, PrivacyRequestStatus.PROCESSING.value]
        ),
        or_(PrivacyRequest.next_attempt_at.is_(None), PrivacyRequest.next_attempt_at <= now),
    )


async def claim_requests(
    sessions: SessionFactory, *, worker_id: str, now: datetime, lease: timedelta, limit: int
) -> list[uuid.UUID]:
    """Take up to ``limit`` due requests, erasures first, then oldest first, for this worker."""
    async with sessions() as session:
        rows = await claim_rows(
            session,
            PrivacyRequest,
            _due(now),
            worker_id=worker_id,
            now=now,
            lease=lease,
            limit=limit,
            # Erasures first: they have a deadline, and an export can take a while.
            order_by=(PrivacyRequest.kind != PrivacyRequestKind.ERASE.value, PrivacyRequest.created_at),
            columns=(PrivacyRequest.id,),
            values={
                "status": PrivacyRequestStatus.PROCESSING.value,
                "attempts": PrivacyRequest.attempts + 1,
            },
        )
        await session.commit()
    return [row.id for row in rows]


# -- doing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    storage: Storage
    config: RecordingsConfig
    worker_id: str
    clock: Clock
    on_erased: OnErased | None
    lease_seconds: float


def _held(request_id: uuid.UUID, job: _Job) -> ColumnElement[bool]:
    return and_(
        PrivacyRequest.id == request_id,
        PrivacyRequest.claimed_by == job.worker_id,
        PrivacyRequest.status == PrivacyRequestStatus.PROCESSING.value,
    )


async def _finish(
    sessions: SessionFactory,
    request: PrivacyRequest,
    job: _Job,
    status: PrivacyRequestStatus,
    *,
    result: dict[str, Any],
    error: str | None = None,
    values: Mapping[str, Any] | None = None,
    export_lifetime: timedelta | None = None,
    then: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> bool:
    """Mark the request final with its receipt (and ``then``), if this worker still holds it."""
    now = job.clock()
    async with sessions() as session:
        done = await session.scalar(
            update(PrivacyRequest)
            .where(_held(request.id, job))
            .values(
                status=status.value,
                result=result,
                error=error,
                completed_at=now,
                claimed_by=None,
                lease_until=None,
                next_attempt_at=None,
                **(values or {}),
                **({"export_expires_at": now + export_lifetime} if export_lifetime is not None else {}),
            )
            .returning(PrivacyRequest.id)
            .execution_options(synchronize_session=False)
        )
        if done is None:
            logger.warning("privacy: lost the lease on request %s; another worker finishes it", request.id)
            await session.rollback()
            return False
        await audit.record(
            session,
            org_id=org_of(request),
            actor=ACTOR,
            action="privacy_request.completed",
            target=f"privacy_request:{request.id}",
            details={
                "kind": request.kind,
                "status": status.value,
                "error": error,
                "call_id": result.get("call_id"),
                "counts": result.get("counts", {}),
            },
        )
        if then is not None:
            await then(session)
        await session.commit()
    return True


async def _later(
    sessions: SessionFactory, request: PrivacyRequest, job: _Job, delay: float, error: str
) -> None:
    """Give the request back, to be taken again after ``delay`` seconds."""
    async with sessions() as session:
        await session.execute(
            update(PrivacyRequest)
            .where(_held(request.id, job))
            .values(
                claimed_by=None,
                lease_until=None,
                next_attempt_at=job.clock() + timedelta(seconds=delay),
                error=error[:1000],
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()


def _of_call(call_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(
        PrivacyRequest.call_id == call_id, PrivacyRequest.result["call_id"].as_string() == str(call_id)
    )


async def _count(session: AsyncSession, call_id: uuid.UUID) -> dict[str, int] | None:
    """What the call has, before erasure; None when there is no such call (any more)."""
    visitor_id = await session.scalar(select(CALLS.c.visitor_id).where(CALLS.c.id == call_id))
    if visitor_id is None:
        return None

    async def count(table_call_id: Any) -> int:
        return int(await session.scalar(select(func.count()).where(table_call_id == call_id)) or 0)

    return {
        "recordings": await count(Recording.call_id),
        "consents": await count(CONSENTS.c.call_id),
        "chat_messages": await count(CHAT_MESSAGES.c.call_id),
        "transcripts": await count(TRANSCRIPTS.c.call_id),
        "access_log_rows": int(
            await session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(AccessLogEntry.visitor_id == visitor_id)
            )
            or 0
        ),
        "exports": int(
            await session.scalar(
                select(func.count())
                .select_from(PrivacyRequest)
                .where(_of_call(call_id), PrivacyRequest.export_storage_key.is_not(None))
            )
            or 0
        ),
    }


async def _settling(
    sessions: SessionFactory, request: PrivacyRequest, call_id: uuid.UUID, recordings: tuple[str, ...]
) -> bool:
    """Whether the call is still going on or has recordings in ``recordings`` states: worth
    waiting for, unless the request has waited long enough."""
    if request.attempts >= MAX_WAITS:
        return False
    async with sessions() as session:
        live = await session.scalar(
            select(func.count()).where(CALLS.c.id == call_id, CALLS.c.status.in_(_LIVE_CALL))
        )
        unsettled = await session.scalar(
            select(func.count()).where(Recording.call_id == call_id, Recording.status.in_(recordings))
        )
    return bool(live or unsettled)


async def _erase(sessions: SessionFactory, request: PrivacyRequest, job: _Job) -> None:
    call_id = call_of(request)
    result = dict(request.result or {})
    if call_id is None:
        await _finish(sessions, request, job, PrivacyRequestStatus.NOT_FOUND, result=result)
        return
    async with sessions() as session:
        # Before waiting for the call: a held call fails at once (the check erasure makes).
        await refuse_if_held(session, call_id)
    if await _settling(sessions, request, call_id, _BEING_RECORDED):
        await _later(sessions, request, job, RETRY_BASE_SECONDS, "waiting for the call to end")
        return
    async with sessions() as session:
        if "counts" not in result:
            counts = await _count(session, call_id)
            if counts is None:
                await session.rollback()
                await _finish(sessions, request, job, PrivacyRequestStatus.NOT_FOUND, result=result)
                return
            result["counts"] = counts
            await session.execute(
                update(PrivacyRequest)
                .where(_held(request.id, job))
                .values(result=result)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    erased = await erase_call_data(
        sessions,
        job.storage,
        call_id,
        REASON,
        actor=ACTOR,
        spool_dir=job.config.spool_dir,
        worker_id=job.worker_id,
        now=job.clock(),
    )
    if not erased.complete:
        await _later(
            sessions, request, job, RETRY_BASE_SECONDS, "waiting for a recording another worker holds"
        )
        return
    # Outside the database too, so that a restored backup cannot bring the call back for good
    # (``privacy.ledger``; ``loket privacy replay``). Written before the request is marked
    # done: a storage failure retries the (idempotent) erasure and writes it then.
    await append_receipt(
        job.storage,
        ErasureReceipt(
            call_id=call_id,
            org_id=org_of(request),
            erased_at=job.clock(),
            reason=REASON,
            request_id=request.id,
        ),
    )
    # Archives made for export requests hold the call's data too. Looked for after the call
    # is gone: an export finishing later sees that itself (``_export``), so none slips through.
    async with sessions() as session:
        exports = list(
            await session.scalars(
                select(PrivacyRequest.id).where(
                    _of_call(call_id), PrivacyRequest.export_storage_key.is_not(None)
                )
            )
        )
    for export_id in exports:
        await shred_export(sessions, job.storage, export_id, reason="erasure", org_id=org_of(request))
    org_id = org_of(request)

    async def report(session: AsyncSession) -> None:
        # The code is the visitor's key to this call; with the call gone it is kept nowhere.
        await session.execute(
            update(PrivacyRequest)
            .where(_of_call(call_id))
            .values(reference="")
            .execution_options(synchronize_session=False)
        )
        if job.on_erased is not None and org_id is not None:
            await job.on_erased(
                session,
                DataErased(
                    org_id=org_id,
                    request_id=request.id,
                    call_id=call_id,
                    requested_by="staff" if request.requested_by else "visitor",
                    counts=result["counts"],
                    requested_at=request.created_at,
                    erased_at=job.clock(),
                ),
            )

    await _finish(sessions, request, job, PrivacyRequestStatus.DONE, result=result, then=report)


async def _export(sessions: SessionFactory, request: PrivacyRequest, job: _Job) -> None:
    call_id = call_of(request)
    result = dict(request.result or {})
    if call_id is None:
        await _finish(sessions, request, job, PrivacyRequestStatus.NOT_FOUND, result=result)
        return
    if await _settling(sessions, request, call_id, _NOT_STORED):
        await _later(sessions, request, job, RETRY_BASE_SECONDS, "waiting for recordings to be stored")
        return
    stored = await build_export(sessions, job.storage, job.config, request.id, call_id)
    if stored is None:
        await _finish(sessions, request, job, PrivacyRequestStatus.NOT_FOUND, result=result)
        return
    result["counts"] = stored.counts
    async with sessions() as session:
        gone = await session.scalar(select(func.count()).where(CALLS.c.id == call_id)) == 0
    if gone:
        # Erased while the archive was being built: it must not outlive the call.
        await job.storage.delete_many([stored.storage_key])
        await _finish(sessions, request, job, PrivacyRequestStatus.NOT_FOUND, result=result)
        return
    finished = await _finish(
        sessions,
        request,
        job,
        PrivacyRequestStatus.DONE,
        result=result,
        values={
            "export_storage_key": stored.storage_key,
            "export_wrapped_key": stored.wrapped_key,
            "export_key_id": stored.key_id,
            "export_bytes": stored.bytes,
        },
        export_lifetime=EXPORT_LIFETIME,
    )
    async with sessions() as session:
        erased = await session.scalar(select(func.count()).where(CALLS.c.id == call_id)) == 0
    if finished and erased:
        # An erasure deleted the call between the check above and now, after it had looked
        # for this call's exports: this one goes the same way.
        await shred_export(sessions, job.storage, request.id, reason="erasure", org_id=org_of(request))


async def _process(sessions: SessionFactory, request_id: uuid.UUID, job: _Job) -> None:
    async with sessions() as session:
        request = await session.get(PrivacyRequest, request_id)
    if request is None or request.claimed_by != job.worker_id:
        return
    try:
        # Renewed while the work runs: the lease only runs out when this worker dies.
        async with lease_kept(
            sessions,
            PrivacyRequest,
            request.id,
            job.worker_id,
            lease_seconds=job.lease_seconds,
            clock=job.clock,
        ):
            if request.kind == PrivacyRequestKind.ERASE:
                await _erase(sessions, request, job)
            else:
                await _export(sessions, request, job)
    except LegalHold:
        await _finish(
            sessions,
            request,
            job,
            PrivacyRequestStatus.FAILED,
            result=dict(request.result or {}),
            error="legal_hold",
        )
    except Exception as exc:
        code = getattr(exc, "code", exc.__class__.__name__)
        if request.attempts >= MAX_ATTEMPTS:
            logger.exception("privacy: request %s failed for good", request.id)
            failed = await _finish(
                sessions,
                request,
                job,
                PrivacyRequestStatus.FAILED,
                result=dict(request.result or {}),
                error=code,
            )
            if failed and request.kind == PrivacyRequestKind.EXPORT:
                # An archive stored before the step failed: its key was never kept, so no
                # expiry would ever find it. (After _finish: nobody else can be storing it now.)
                await job.storage.delete_many([export_storage_key(request.id)])
            return
        logger.warning("privacy: request %s failed (%s); retried later", request.id, code, exc_info=True)
        delay = min(RETRY_BASE_SECONDS * 2 ** (request.attempts - 1), RETRY_MAX_SECONDS)
        await _later(sessions, request, job, delay, code)


async def process_requests(
    sessions: SessionFactory,
    storage: Storage,
    config: RecordingsConfig,
    *,
    on_erased: OnErased | None = None,
    now: datetime | None = None,
    worker_id: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    batch: int = 10,
) -> int:
    """One pass: claim due requests and carry each as far as it goes; returns how many were taken.

    Safe to run in any number of workers at once. ``now`` is for tests (a later "now").
    """
    job = _Job(
        storage, config, worker_id or default_worker_id(), Clock.starting(now), on_erased, lease_seconds
    )
    taken = 0
    while claimed := await claim_requests(
        sessions,
        worker_id=job.worker_id,
        now=job.clock(),
        lease=timedelta(seconds=lease_seconds),
        limit=batch,
    ):
        for request_id in claimed:
            await _process(sessions, request_id, job)
        taken += len(claimed)
    return taken
