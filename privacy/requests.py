"""Privacy requests: asking to erase or export one call's data (GDPR art. 15, 17, 20), by the
visitor with the call's privacy key (``privacy.keys``) or by staff for a call of their
organisation; following the request, and staff's view of them.

``create_request`` stores the request with the SHA-256 of a fresh one-time secret and
answers the same whether or not the privacy key matches a call: the caller learns nothing
about which keys exist. The key itself is never stored, not even in the request.
Requests that matched no call (``not_found``) are deleted a day after they were answered
(``expire_unmatched``): they hold nothing worth keeping.

The call's id and organisation are kept in the row's ``result`` from the start, because
``call_id`` is set to NULL when erasure deletes the call, and the request must still know
which call it was about (to resume, to report, to be listed for staff).
The worker side lives in ``privacy.request_worker``, the archive in ``privacy.export``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import SessionFactory, audit, paging, utcnow
from db.tables import CALLS
from privacy.keys import call_for_privacy_key
from privacy.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus

SECRET_BYTES = 32
# How long a request that matched no call is kept after it was answered.
UNMATCHED_LIFETIME = timedelta(days=1)
# Compared against when the id is unknown, so a miss costs what a hit costs.
_NO_SECRET = "0" * 64


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedRequest:
    """A new request as its requester sees it: the id and the secret (shown once, never stored)."""

    id: uuid.UUID
    secret: str = field(repr=False)
    kind: PrivacyRequestKind
    status: PrivacyRequestStatus


# -- asking -----------------------------------------------------------------------------------


async def create_request(
    session: AsyncSession,
    *,
    kind: PrivacyRequestKind,
    privacy_key: str | None = None,
    call_id: uuid.UUID | None = None,
    requested_by: uuid.UUID | None = None,
) -> CreatedRequest:
    """A request for the call whose visitor holds ``privacy_key``, or for ``call_id`` (staff,
    ``requested_by``).

    The call is looked up either way and the answer does not depend on it. The caller commits.
    """
    if (privacy_key is None) == (call_id is None):
        raise ValueError("give a privacy key or a call id")
    if privacy_key is not None:
        call_id = await call_for_privacy_key(session, privacy_key)
    call = (
        (
            await session.execute(
                select(CALLS.c.id, CALLS.c.org_id, CALLS.c.reference).where(CALLS.c.id == call_id)
            )
        ).first()
        if call_id is not None
        else None
    )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    request = PrivacyRequest(
        kind=kind.value,
        status=PrivacyRequestStatus.RECEIVED.value,
        # The reference is no credential any more; kept only for staff's own requests.
        reference=call.reference if call is not None and requested_by is not None else "",
        secret_hash=hash_secret(secret),
        call_id=call.id if call else None,
        requested_by=requested_by,
        result={"org_id": str(call.org_id), "call_id": str(call.id)} if call else None,
        next_attempt_at=utcnow(),
    )
    session.add(request)
    await session.flush()
    await audit.record(
        session,
        org_id=call.org_id if call else None,
        actor=f"user:{requested_by}" if requested_by else "visitor",
        action="privacy_request.received",
        target=f"privacy_request:{request.id}",
        details={"kind": kind.value, "call_id": str(call.id) if call else None},
    )
    return CreatedRequest(request.id, secret, kind, PrivacyRequestStatus.RECEIVED)


async def find_request(
    session: AsyncSession, request_id: uuid.UUID, secret: str | None
) -> PrivacyRequest | None:
    """The request if ``secret`` is its secret, else None (an unknown id looks the same).

    Compared in constant time over the hashes (and against a dummy when the id is unknown).
    """
    request = await session.get(PrivacyRequest, request_id)
    expected = request.secret_hash if request is not None else _NO_SECRET
    matches = hmac.compare_digest(hash_secret(secret or ""), expected)
    return request if matches and request is not None and secret else None


async def org_requests(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    limit: int = 100,
    before: datetime | None = None,
    before_id: uuid.UUID | None = None,
) -> list[PrivacyRequest]:
    """The organisation's requests, newest first (requests for unknown codes belong to nobody),
    paged over ``(created_at, id)`` (``db.paging``)."""
    query = select(PrivacyRequest).where(
        PrivacyRequest.result["org_id"].as_string() == str(org_id),
        paging.older_than(PrivacyRequest.created_at, PrivacyRequest.id, before, before_id),
    )
    order = paging.newest_first(PrivacyRequest.created_at, PrivacyRequest.id)
    return list(await session.scalars(query.order_by(*order).limit(limit)))


def call_of(request: PrivacyRequest) -> uuid.UUID | None:
    """The call a request is about, also once erasure has set ``call_id`` to NULL."""
    if request.call_id is not None:
        return request.call_id
    raw = (request.result or {}).get("call_id")
    return uuid.UUID(raw) if isinstance(raw, str) else None


async def expire_unmatched(sessions: SessionFactory, now: datetime | None = None) -> int:
    """Delete requests answered ``not_found`` more than a day ago; returns how many went."""
    cutoff = (now or utcnow()) - UNMATCHED_LIFETIME
    async with sessions() as session:
        gone = await session.execute(
            delete(PrivacyRequest).where(
                PrivacyRequest.status == PrivacyRequestStatus.NOT_FOUND.value,
                PrivacyRequest.completed_at < cutoff,
            )
        )
        await session.commit()
    return int(gone.rowcount)  # type: ignore[attr-defined]
