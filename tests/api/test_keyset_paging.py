"""``/recordings`` and ``/privacy/requests`` page over ``(created_at, id)``: rows that share a
timestamp are neither skipped nor repeated across pages (both backend pairs, real HTTP)."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import recordings
from db import create_engine, create_session_factory, utcnow
from privacy.models import PrivacyRequest
from signaling.models import Call, CallStatus
from signaling.reference import new_reference
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, World, base_url


async def _seed(backend: Backend, world: World, *, shared: int, older: int) -> None:
    """``shared`` recordings and privacy requests made at one instant, ``older`` a second before."""
    engine = create_engine(backend.database_url)
    now = utcnow().replace(microsecond=123456)
    try:
        async with create_session_factory(engine)() as db:
            call = Call(
                org_id=world.org_id,
                queue_id=world.queue_id,
                reference=new_reference(),
                visitor_id=uuid.uuid4().hex,
                status=CallStatus.ENDED,
                created_at=now,
            )
            db.add(call)
            await db.flush()
            for index in range(shared + older):
                when = now if index < shared else now - timedelta(seconds=1)
                await recordings.create_recording(
                    db, call_id=call.id, participant="visitor", spool_path=Path(f"{index}.webm"), now=when
                )
                db.add(
                    PrivacyRequest(
                        kind="export",
                        reference=call.reference,
                        secret_hash=secrets.token_hex(32),
                        result={"org_id": str(world.org_id), "call_id": str(call.id)},
                        created_at=when,
                    )
                )
            await db.commit()
    finally:
        await engine.dispose()


async def _all_pages(api: StaffApi, path: str, limit: int) -> list[str]:
    seen: list[str] = []
    query = f"?limit={limit}"
    for _ in range(20):
        page = await api.get(path + query)
        assert page.status == 200, page.body
        if not page.body:
            return seen
        key = "id" if "id" in page.body[0] else "request_id"
        seen += [row[key] for row in page.body]
        last = page.body[-1]
        query = f"?limit={limit}&before={quote(last['created_at'])}&before_id={last[key]}"
    raise AssertionError("paging did not end")


async def test_recordings_sharing_a_timestamp_are_each_listed_once(
    server, world: World, backend: Backend
) -> None:
    await _seed(backend, world, shared=5, older=2)
    api = await as_staff(base_url(server), world, "admin")
    everything = await api.get("/recordings?limit=200")
    paged = await _all_pages(api, "/recordings", limit=2)
    assert len(paged) == 7 and sorted(paged) == sorted(row["id"] for row in everything.body)
    assert paged == [row["id"] for row in everything.body]  # the same order as one big page


async def test_privacy_requests_sharing_a_timestamp_are_each_listed_once(
    server, world: World, backend: Backend
) -> None:
    await _seed(backend, world, shared=5, older=2)
    api = await as_staff(base_url(server), world, "dpo")
    paged = await _all_pages(api, "/privacy/requests", limit=2)
    assert len(paged) == len(set(paged)) == 7


async def test_before_id_without_before_is_refused(server, world: World) -> None:
    api = await as_staff(base_url(server), world, "admin")
    answer = await api.get(f"/recordings?before_id={uuid.uuid4()}")
    assert answer.status == 422 and answer.error_code == "invalid_input"
