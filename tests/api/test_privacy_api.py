"""``/api/v1/privacy/requests`` and ``/api/v1/calls/{id}/erasure`` over real HTTP on both backend
pairs, with the worker's privacy job (as ``loket.worker`` wires it) doing the work."""

from __future__ import annotations

import dataclasses
import io
import json
import secrets
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from sqlalchemy import delete, select, update

from accounts.config import RateLimit
from accounts.models import Organisation
from api.keys import CONFIG
from db import SessionFactory, create_engine, create_session_factory, utcnow
from db.audit import AuditEvent
from loket.app import create_app
from loket.worker import Worker
from privacy import PrivacyRequest, expire_exports, issue_privacy_key, new_privacy_key
from recordings import LocalStorage, store_recording
from signaling.models import Call
from signaling.reference import new_reference
from tests.api.test_admin_api import Answer, as_staff
from tests.conftest import Backend, World, base_url, make_world
from tests.recordings.conftest import spool_recording
from webhooks import WebhookDelivery, create_endpoint

SECRET_HEADER = "X-Loket-Request-Secret"
KEY = "PK-ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"


@pytest.fixture
async def sessions(backend: Backend) -> AsyncIterator[SessionFactory]:
    """Sessions with the app's own installation keys (the privacy keys' HMAC derives from them)."""
    engine = create_engine(backend.database_url)
    yield create_session_factory(engine, keys=backend.settings().installation_keys())
    await engine.dispose()


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[LocalStorage]:
    """The app's own storage (its settings' ``file://`` directory)."""
    local = LocalStorage(backend.data_dir / "recordings")
    yield local
    await local.stop()


async def run_privacy_job(backend: Backend, sessions: SessionFactory, storage: LocalStorage) -> None:
    """One pass of the worker's privacy job, as ``loket worker`` runs it."""
    worker = Worker(
        sessions=sessions, access_log_days=7, storage=storage, recordings=backend.settings().recordings()
    )
    [job] = [job for job in worker.jobs if job.name == "privacy requests"]
    assert job.every <= 60, "erasure within the hour: the job polls at least every minute"
    await job.run(worker.context)


async def call(
    url: str, method: str, path: str, *, json_body: Any = None, secret: str | None = None, **kwargs: Any
) -> tuple[Answer, CIMultiDictProxy[str], bytes]:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    headers.update(kwargs.pop("headers", {}))
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{url}/api/v1{path}", json=json_body, headers=headers, **kwargs) as response,
    ):
        raw = await response.read()
        body = json.loads(raw) if response.content_type == "application/json" else raw
        return Answer(response.status, body), response.headers, raw


async def ask(url: str, privacy_key: str, kind: str) -> dict[str, Any]:
    answer, _, _ = await call(
        url, "POST", "/privacy/requests", json_body={"privacy_key": privacy_key, "kind": kind}
    )
    assert answer.status == 202, answer.body
    body: dict[str, Any] = answer.body
    return body


async def status(url: str, created: dict[str, Any], secret: str | None = None) -> Answer:
    answer, _, _ = await call(
        url, "GET", f"/privacy/requests/{created['request_id']}", secret=secret or created["secret"]
    )
    return answer


@dataclass(frozen=True)
class Ended:
    """An ended call as its visitor knows it: the reference staff see too, and the privacy key."""

    id: uuid.UUID
    reference: str
    privacy_key: str


async def new_call(sessions: SessionFactory, world: World) -> Ended:
    async with sessions() as db:
        made = Call(
            org_id=world.org_id,
            queue_id=world.queue_id,
            reference=new_reference(),
            visitor_id=secrets.token_hex(8),
            status="ended",
        )
        db.add(made)
        await db.flush()
        # What ending the call gives its visitor (signaling.ending).
        privacy_key = await issue_privacy_key(db, made.id)
        await db.commit()
        return Ended(made.id, made.reference, privacy_key)


async def audit_events(sessions: SessionFactory, action: str, target: str) -> list[AuditEvent]:
    async with sessions() as db:
        return list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target == target)
            )
        )


async def test_a_privacy_key_gets_the_same_answer_whether_or_not_it_exists(
    server: TestServer, world: World, backend: Backend, sessions: SessionFactory, storage: LocalStorage
) -> None:
    url = base_url(server)
    ended = await new_call(sessions, world)
    call_id = ended.id
    known = await ask(url, ended.privacy_key.lower().replace("-", " "), "erase")
    unknown = await ask(url, new_privacy_key(), "erase")
    for created in (known, unknown):
        assert set(created) == {"request_id", "secret", "kind", "status"}
        assert (created["kind"], created["status"]) == ("erase", "received")
        assert len(created["secret"]) >= 40
    answer = await status(url, known)
    assert answer.status == 200 and answer.body["status"] == "received"
    assert set(answer.body) == {"request_id", "kind", "status", "created_at", "completed_at", "export"}

    await run_privacy_job(backend, sessions, storage)

    done, missing = await status(url, known), await status(url, unknown)
    assert (done.body["status"], done.body["completed_at"] is not None, done.body["export"]) == (
        "done",
        True,
        None,
    )
    assert missing.body["status"] == "not_found"
    async with sessions() as db:
        assert await db.get(Call, call_id) is None
    # Another's secret, no secret, an unknown id, not an id: one and the same 404.
    wrong = await status(url, known, unknown["secret"])
    assert wrong.status == 404 and wrong.error_code == "privacy_request_not_found"
    for path, secret in (
        (f"/privacy/requests/{known['request_id']}", None),
        (f"/privacy/requests/{uuid.uuid4()}", known["secret"]),
        ("/privacy/requests/not-an-id", known["secret"]),
        (f"/privacy/requests/{known['request_id']}/export", "wrong"),
    ):
        answer, _, _ = await call(url, "GET", path, secret=secret)
        assert (answer.status, answer.body) == (404, wrong.body)


async def test_bad_input_gets_a_clear_error_never_a_500(server: TestServer) -> None:
    url = base_url(server)
    cases: list[dict[str, Any]] = [
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"data": b"privacy_key=PK-ABCD", "headers": {"Content-Type": "text/plain"}},
        {"json": []},
        {"json": {"privacy_key": KEY}},
        {"json": {"privacy_key": KEY, "kind": "delete"}},
        {"json": {"privacy_key": KEY, "kind": "erase", "email": "a@b.example"}},
        {"json": {"privacy_key": "x" * 81, "kind": "erase"}},
        {"json": {"privacy_key": 12345, "kind": "export"}},
        {"json": {"privacy_key": "not a key!", "kind": "export"}},
        # The reference code is no credential any more.
        {"json": {"reference": "ABCDE-12345", "kind": "export"}},
    ]
    for case in cases:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/api/v1/privacy/requests", **case) as response,
        ):
            body = await response.json()
            assert 400 <= response.status < 500, (case, response.status, body)
            assert Answer(response.status, body).error_code, case
    answer, _, _ = await call(
        url, "POST", "/privacy/requests", json_body={"privacy_key": "ABCDE-12345", "kind": "erase"}
    )
    assert (answer.status, answer.error_code) == (422, "invalid_privacy_key")


async def test_asking_or_reading_too_often_from_one_address_is_refused(backend: Backend) -> None:
    app = create_app(backend.settings(), run_worker=False)
    app[CONFIG] = dataclasses.replace(
        app[CONFIG], privacy_requests_per_ip=RateLimit(3, 60), privacy_reads_per_ip=RateLimit(4, 60)
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = base_url(server)
        created = [await ask(url, new_privacy_key(), "export") for _ in range(3)]
        answer, headers, _ = await call(
            url, "POST", "/privacy/requests", json_body={"privacy_key": new_privacy_key(), "kind": "export"}
        )
        assert (answer.status, answer.error_code) == (429, "rate_limited")
        assert int(headers["Retry-After"]) >= 1
        for _ in range(4):
            assert (await status(url, created[0])).status == 200
        refused = await status(url, created[0])
        assert (refused.status, refused.error_code) == (429, "rate_limited")
    finally:
        await server.close()


async def test_an_export_is_downloaded_with_the_secret_and_is_gone_after_24_hours(
    server: TestServer, world: World, backend: Backend, sessions: SessionFactory, storage: LocalStorage
) -> None:
    url = base_url(server)
    ended = await new_call(sessions, world)
    call_id, reference = ended.id, ended.reference
    config = backend.settings().recordings()
    config.spool_dir.mkdir(parents=True, exist_ok=True)
    recording_id, media = await spool_recording(sessions, config, call_id, 20_000)
    assert await store_recording(sessions, storage, config, recording_id)
    created = await ask(url, ended.privacy_key, "export")
    assert (await status(url, created)).body["export"] is None
    path = f"/privacy/requests/{created['request_id']}/export"
    early, _, _ = await call(url, "GET", path, secret=created["secret"])
    assert (early.status, early.error_code) == (409, "export_not_ready")

    await run_privacy_job(backend, sessions, storage)

    answer = await status(url, created)
    assert answer.body["status"] == "done", answer.body
    export = answer.body["export"]
    assert set(export) == {"expires_at", "bytes"} and export["bytes"] > len(media)
    download, headers, raw = await call(url, "GET", path, secret=created["secret"])
    assert download.status == 200
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        document = json.loads(archive.read("call.json"))
        assert document["reference"] == reference and document["queue"] == "Sales"
        assert archive.read("recordings/visitor-1.webm") == media
    [downloaded] = await audit_events(
        sessions, "privacy_export.downloaded", f"privacy_request:{created['request_id']}"
    )
    assert downloaded.org_id == world.org_id
    wrong, _, _ = await call(url, "GET", path, secret=created["secret"][:-1] + "x")
    assert (wrong.status, wrong.error_code) == (404, "privacy_request_not_found")

    # 24 hours later: refused at once, then shredded and deleted by the worker, with a receipt.
    async with sessions() as db:
        row = await db.get(PrivacyRequest, uuid.UUID(created["request_id"]))
        assert row is not None and row.export_storage_key is not None
        key = row.export_storage_key
        await db.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == row.id)
            .values(export_expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    gone, _, _ = await call(url, "GET", path, secret=created["secret"])
    assert (gone.status, gone.error_code) == (410, "export_expired")
    assert await storage.exists(key)
    assert await expire_exports(sessions, storage) >= 1
    assert not await storage.exists(key)
    [receipt] = await audit_events(
        sessions, "privacy_export.deleted", f"privacy_request:{created['request_id']}"
    )
    assert receipt.details["reason"] == "expired" and receipt.org_id == world.org_id
    gone, _, _ = await call(url, "GET", path, secret=created["secret"])
    assert (gone.status, gone.error_code) == (410, "export_expired")
    assert (await status(url, created)).body["export"] is None


async def test_staff_ask_for_erasure_of_their_organisations_calls_and_follow_the_requests(
    server: TestServer, world: World, backend: Backend, sessions: SessionFactory, storage: LocalStorage
) -> None:
    url = base_url(server)
    ended = await new_call(sessions, world)
    call_id, reference = ended.id, ended.reference
    other = await make_world(backend)
    foreign_call = (await new_call(sessions, other)).id
    async with sessions() as db:
        endpoint = await create_endpoint(
            db,
            org_id=world.org_id,
            url="http://127.0.0.1:9/hook",
            events=["data.erased"],
            actor="test",
            allow_insecure=True,
        )
        await db.commit()
    adviser = await as_staff(url, world, "adviser")
    admin = await as_staff(url, world, "admin")
    dpo = await as_staff(url, world, "dpo")

    for answer in (
        await adviser.post(f"/calls/{call_id}/erasure", None),
        await adviser.get("/privacy/requests"),
    ):
        assert (answer.status, answer.error_code) == (403, "forbidden")
    foreign = await admin.post(f"/calls/{foreign_call}/erasure", None)
    assert (foreign.status, foreign.error_code) == (404, "not_found")
    assert (await admin.post("/calls/not-an-id/erasure", None)).status == 404

    asked = await dpo.post(f"/calls/{call_id}/erasure", None)
    assert asked.status == 202, asked.body
    assert set(asked.body) == {"request_id", "status"} and asked.body["status"] == "received"
    [event] = await audit_events(sessions, "call.erasure_requested", f"call:{call_id}")
    assert event.actor == f"user:{dpo.user_id}" and event.details["request_id"] == asked.body["request_id"]
    listed = await admin.get("/privacy/requests")
    assert listed.status == 200
    [mine] = [row for row in listed.body if row["request_id"] == asked.body["request_id"]]
    assert "secret" not in mine and "reference" not in mine
    assert (mine["status"], mine["call_id"], mine["requested_by"]) == (
        "received",
        str(call_id),
        str(dpo.user_id),
    )
    # The other organisation never sees it.
    outsider = await as_staff(url, other, "dpo")
    assert asked.body["request_id"] not in {
        row["request_id"] for row in (await outsider.get("/privacy/requests")).body
    }

    await run_privacy_job(backend, sessions, storage)

    [mine] = [
        row
        for row in (await dpo.get("/privacy/requests")).body
        if row["request_id"] == asked.body["request_id"]
    ]
    assert (mine["status"], mine["call_id"], mine["counts"]["consents"]) == ("done", str(call_id), 0)
    async with sessions() as db:
        [delivery] = list(
            await db.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        )
        assert delivery.event == "data.erased"
        assert delivery.payload["request_id"] == asked.body["request_id"]
        assert delivery.payload["call_id"] == str(call_id) and delivery.payload["requested_by"] == "staff"
        assert reference not in json.dumps(delivery.payload)
        await db.execute(delete(Organisation).where(Organisation.id == other.org_id))
        await db.commit()


async def test_a_staff_member_can_no_longer_export_a_call_through_its_reference(
    server: TestServer, world: World, backend: Backend, sessions: SessionFactory, storage: LocalStorage
) -> None:
    """The reference code is on every staff screen; it used to be all the anonymous route asked
    for, so an adviser could get a call's data as a visitor "export". Now only the visitor's
    privacy key opens that route, and staff export through their own route, as themselves."""
    url = base_url(server)
    ended = await new_call(sessions, world)
    adviser = await as_staff(url, world, "adviser")
    supervisor = await as_staff(url, world, "supervisor")
    listed = await supervisor.get("/calls")
    assert ended.reference in {row["reference"] for row in listed.body}, "staff do see the reference"

    # The anonymous route with the reference: refused, as a field and as a key.
    for field in ("reference", "privacy_key"):
        answer, _, _ = await call(
            url, "POST", "/privacy/requests", json_body={field: ended.reference, "kind": "export"}
        )
        assert answer.status == 422, (field, answer.body)
    await run_privacy_job(backend, sessions, storage)
    async with sessions() as db:
        exports = list(await db.scalars(select(PrivacyRequest).where(PrivacyRequest.call_id == ended.id)))
    assert exports == [], "no request for the call was made through its reference"

    # The staff route: admin and dpo only.
    for member in (adviser, supervisor):
        refused = await member.post(f"/calls/{ended.id}/export", None)
        assert (refused.status, refused.error_code) == (403, "forbidden")
    dpo = await as_staff(url, world, "dpo")
    asked = await dpo.post(f"/calls/{ended.id}/export", None)
    assert asked.status == 202, asked.body
    request_id = asked.body["request_id"]
    [event] = await audit_events(sessions, "call.export_requested", f"call:{ended.id}")
    assert event.actor == f"user:{dpo.user_id}"
    # A staff request cannot be followed with a visitor's means (it has no secret to give).
    anonymous, _, _ = await call(url, "GET", f"/privacy/requests/{request_id}/export", secret="x")
    assert anonymous.status == 404

    await run_privacy_job(backend, sessions, storage)

    path = f"/calls/{ended.id}/export/{request_id}"
    refused, _, _ = await call(url, "GET", path, headers={"Authorization": f"Bearer {adviser.token}"})
    assert refused.status == 403
    download, headers, raw = await call(url, "GET", path, headers={"Authorization": f"Bearer {dpo.token}"})
    assert download.status == 200, download.body
    assert headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert json.loads(archive.read("call.json"))["reference"] == ended.reference
    [downloaded] = await audit_events(sessions, "privacy_export.downloaded", f"privacy_request:{request_id}")
    assert downloaded.actor == f"user:{dpo.user_id}", "the staff member, not 'visitor'"
    wrong, _, _ = await call(
        url,
        "GET",
        f"/calls/{uuid.uuid4()}/export/{request_id}",
        headers={"Authorization": f"Bearer {dpo.token}"},
    )
    assert wrong.status == 404

    # The visitor's own key still works, and is the only thing that does.
    created = await ask(url, ended.privacy_key, "export")
    await run_privacy_job(backend, sessions, storage)
    assert (await status(url, created)).body["status"] == "done"
