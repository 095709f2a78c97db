"""``db.jobs``: the one claim, lease and backoff implementation every worker job uses.

``lease_kept``'s renewal stops with the work it guards (done, failed, or cancelled by the
worker's per-run timeout), so the row goes to another worker once the lease runs out; and a
stop of that work (``Worker.stop`` cancels it) is never swallowed on the way out.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import delete

from accounts.models import Organisation
from db import (
    SessionFactory,
    backoff,
    claim_rows,
    lease_kept,
    update_if_held,
    utcnow,
)
from recordings import Recording, create_recording, get_recording, mark_spooled
from signaling.models import Call


class _WindingDownSession:
    """A session whose renewal UPDATE hangs, and whose close, once cancelled, takes a while
    (like returning a connection to its pool)."""

    def __init__(self, updating: asyncio.Event, closing: asyncio.Event) -> None:
        self._updating = updating
        self._closing = closing

    async def __aenter__(self) -> _WindingDownSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await asyncio.Event().wait()  # until cancelled again

    async def execute(self, statement: Any) -> Any:
        self._updating.set()
        await asyncio.Event().wait()

    async def commit(self) -> None:
        pass


async def test_a_stop_arriving_while_the_renewal_winds_down_is_not_swallowed() -> None:
    updating, closing = asyncio.Event(), asyncio.Event()
    sessions = cast(SessionFactory, lambda: _WindingDownSession(updating, closing))
    went_on = False

    async def work() -> None:
        nonlocal went_on
        async with lease_kept(sessions, Recording, uuid.uuid4(), "w", lease_seconds=0.03, clock=utcnow):
            await updating.wait()  # the work ends while a renewal is under way
        went_on = True

    task = asyncio.create_task(work())
    async with asyncio.timeout(5):
        await closing.wait()  # the work is done; lease_kept waits for the renewal to wind down
    task.cancel()  # and now the worker is stopped
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on, "the stop was swallowed: the worker would go on to its next job"


def test_the_retry_delay_doubles_up_to_its_cap() -> None:
    delays = [backoff(n, base=10, cap=80).total_seconds() for n in (0, 1, 2, 3, 4, 5, 60, 10_000)]
    assert delays == [10, 10, 20, 40, 80, 80, 80, 80]
    with pytest.raises(ValueError, match="base"):
        backoff(1, base=0, cap=80)
    with pytest.raises(ValueError, match="base"):
        backoff(1, base=90, cap=80)


def test_the_jittered_retry_delay_lies_in_the_upper_half_of_the_plain_one() -> None:
    for attempts in (1, 2, 3, 8, 9, 10, 50):
        ceiling = min(60 * 2 ** (attempts - 1), 6 * 3600)
        delays = [backoff(attempts, base=60, cap=6 * 3600, jitter=True).total_seconds() for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), attempts
        assert len(set(delays)) > 1, "jittered"


# -- on a real database -----------------------------------------------------------------------


@pytest.fixture
async def recording_id(sessions: SessionFactory, tmp_path: Path) -> AsyncIterator[uuid.UUID]:
    """A spooled recording (a leased job row) of a fresh organisation, removed afterwards."""
    async with sessions() as session:
        org = Organisation(name="Jobs Test")
        session.add(org)
        await session.flush()
        call = Call(org_id=org.id, reference=secrets.token_hex(6), visitor_id=secrets.token_hex(8))
        session.add(call)
        await session.flush()
        recording = await create_recording(
            session, call_id=call.id, participant="visitor", spool_path=tmp_path / "r.webm"
        )
        await mark_spooled(session, recording.id, duration_seconds=1.0)
        await session.commit()
        org_id, row_id = org.id, recording.id
    yield row_id
    async with sessions() as session:
        await session.execute(delete(Organisation).where(Organisation.id == org_id))
        await session.commit()


async def claim(sessions: SessionFactory, row_id: uuid.UUID, worker_id: str, lease_seconds: float) -> bool:
    async with sessions() as session:
        rows = await claim_rows(
            session,
            Recording,
            Recording.id == row_id,
            worker_id=worker_id,
            now=utcnow(),
            lease=timedelta(seconds=lease_seconds),
            limit=1,
            order_by=(),
            columns=(Recording.id,),
        )
        await session.commit()
    return bool(rows)


async def lease_of(sessions: SessionFactory, row_id: uuid.UUID) -> tuple[str | None, Any]:
    async with sessions() as session:
        row = await get_recording(session, row_id)
        return row.claimed_by, row.lease_until


async def test_work_given_up_at_its_timeout_stops_renewing_and_its_row_goes_to_another_worker(
    sessions: SessionFactory, recording_id: uuid.UUID
) -> None:
    lease = 0.6  # renewed every 0.2 s
    assert await claim(sessions, recording_id, "worker-a", lease)
    renewals = 0
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):  # the worker's per-run timeout
            async with lease_kept(
                sessions, Recording, recording_id, "worker-a", lease_seconds=lease, clock=utcnow
            ) as keeper:
                try:
                    await asyncio.Event().wait()  # a storage call that never answers
                finally:
                    renewals = keeper.renewals
    assert renewals >= 1, "the lease was being kept while the work ran"
    holder, lease_until = await lease_of(sessions, recording_id)
    assert holder == "worker-a"
    assert not await claim(sessions, recording_id, "worker-b", lease), "still held until the lease runs out"

    await asyncio.sleep(lease + 0.2)
    assert await lease_of(sessions, recording_id) == ("worker-a", lease_until), "renewed after the give-up"
    assert await claim(sessions, recording_id, "worker-b", lease), "the lease ran out: the row is free"
    async with sessions() as session:
        assert not await update_if_held(session, Recording, recording_id, "worker-a", last_error="late")
        assert await update_if_held(session, Recording, recording_id, "worker-b", last_error=None)
        await session.commit()
