"""Signed webhooks: enqueued with the event, sent by the worker to a real HTTP receiver, retried,
failed for good, never sent twice; the admin API with its roles, isolation, validation and
audit trail. On both backend pairs."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import secrets
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import delete, select

import webhooks
from api.routes.webhooks import WEBHOOK_CONFIG
from db import LoketError, SessionFactory, create_engine, create_session_factory, utcnow
from db.keys import InstallationKeys
from loket.app import create_app
from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor, make_world
from webhooks import WebhookConfig, WebhookDelivery, WebhookEndpoint
from webhooks.delivery import (
    TargetRefused,
    WebhookSender,
    deliver_pending,
    webhook_http_session,
)

# Development rules (http and loopback targets allowed), short timeouts for tests.
DEV = WebhookConfig(allow_insecure_targets=True, timeout_seconds=2.0, lease_seconds=30.0)
PRODUCTION = dataclasses.replace(DEV, allow_insecure_targets=False)
ALL_EVENTS = ["call.ended", "recording.stored", "transcript.ready", "data.erased"]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An integration's HTTP endpoint: records every request, answers from a script (else 200)."""

    server: TestServer | None = None
    hits: list[Hit] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    running: int = 0
    most_at_once: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, dict(request.headers), await request.read()))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        status = self.answers.pop(0) if self.answers else 200
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": "/elsewhere"})
        return web.Response(status=status, text="ok")

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def idempotency_keys(self) -> list[str]:
        return [hit.headers["Loket-Idempotency-Key"] for hit in self.hits]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    receiver.server = TestServer(app, host="127.0.0.1")
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


@pytest.fixture
async def dev_server(backend: Backend) -> AsyncIterator[TestServer]:
    """The whole app, with the development rules for webhook targets."""
    app = create_app(backend.settings(ring_timeout_seconds=2.0, resume_window_seconds=2.0), run_worker=False)
    app[WEBHOOK_CONFIG] = DEV
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def strict_server(backend: Backend) -> AsyncIterator[TestServer]:
    """The whole app with production rules for webhook targets (https, public addresses)."""
    app = create_app(backend.settings(), run_worker=False)
    app[WEBHOOK_CONFIG] = WebhookConfig()
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def sessions(backend: Backend) -> AsyncIterator[SessionFactory]:
    """Sessions on the test database; endpoints made during the test (and their deliveries)
    are removed afterwards, so no later test's worker pass sends them."""
    started = utcnow()
    engine = create_engine(backend.database_url)
    # The app's own installation keys: endpoints' secrets are sealed with one derived from them.
    yield create_session_factory(engine, keys=backend.settings().installation_keys())
    async with create_session_factory(engine)() as db:
        await db.execute(delete(WebhookEndpoint).where(WebhookEndpoint.created_at >= started))
        await db.commit()
    await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    session = webhook_http_session(DEV)
    yield session
    await session.close()


async def secret_of(sessions: SessionFactory, endpoint: WebhookEndpoint) -> str:
    async with sessions() as db:
        return webhooks.reveal_secret(db, endpoint)


async def add_endpoint(
    sessions: SessionFactory,
    org_id: uuid.UUID,
    url: str,
    events: list[str] | None = None,
    active: bool = True,
) -> WebhookEndpoint:
    async with sessions() as db:
        endpoint = await webhooks.create_endpoint(
            db,
            org_id=org_id,
            url=url,
            events=events or ALL_EVENTS,
            active=active,
            actor="test",
            allow_insecure=True,
        )
        await db.commit()
        return endpoint


async def enqueue(sessions: SessionFactory, org_id: uuid.UUID, event: str, **data: Any) -> int:
    async with sessions() as db:
        owed = await webhooks.enqueue_event(db, org_id, event, data)
        await db.commit()
        return owed


async def deliveries(sessions: SessionFactory, endpoint_id: uuid.UUID) -> list[WebhookDelivery]:
    async with sessions() as db:
        rows = await db.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at)
        )
        return list(rows)


def receiver_verifies(secret: str, header: str, body: bytes) -> int:
    """The recipe of the webhooks package docstring, written out here: the timestamp, if valid."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "signature does not verify"
    return timestamp


async def test_a_call_ended_over_socketio_is_delivered_once_signed_and_fresh(
    dev_server: TestServer,
    world: World,
    clients: list[Client],
    receiver: Receiver,
    sessions: SessionFactory,
    http: aiohttp.ClientSession,
) -> None:
    url = base_url(dev_server)
    admin = await as_staff(url, world, "admin")
    created = await admin.post("/webhooks", {"url": receiver.url(), "events": ["call.ended"]})
    assert created.status == 201, created.body
    secret = created.body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40

    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    assert (await visitor.call("call:end"))["ok"]
    await visitor.wait_for("call:ended")
    assert receiver.hits == []  # the worker sends, not the request that ended the call

    assert await deliver_pending(sessions, http, config=DEV) == 1
    assert await deliver_pending(sessions, http, config=DEV) == 0
    assert len(receiver.hits) == 1
    hit = receiver.hits[0]
    assert hit.path == "/hook" and hit.headers["Content-Type"] == "application/json"
    assert hit.headers["Loket-Event"] == "call.ended"
    assert hit.headers["Loket-Delivery-Attempt"] == "1"
    key = str(uuid.UUID(hit.headers["Loket-Idempotency-Key"]))
    signed_at = receiver_verifies(secret, hit.headers["Loket-Signature"], hit.body)
    assert abs(time.time() - signed_at) < 5
    assert webhooks.verify_signature(secret, hit.headers["Loket-Signature"], hit.body)
    assert not webhooks.verify_signature(secret, hit.headers["Loket-Signature"], hit.body + b" ")
    assert not webhooks.verify_signature("whsec_other", hit.headers["Loket-Signature"], hit.body)

    sent = json.loads(hit.body)
    assert sent["id"] == key and sent["event"] == "call.ended"
    data = sent["data"]
    assert set(data) == {"call_id", "queue_id", "outcome", "reason", "joined_at", "accepted_at", "ended_at"}
    assert data["call_id"] == joined["call_id"] and data["queue_id"] == str(world.queue_id)
    assert (data["outcome"], data["reason"]) == ("ended", "visitor_ended")
    assert data["joined_at"] <= data["accepted_at"] <= data["ended_at"]
    # No visitor data, and not the visitor's privacy key either.
    assert joined["reference"] not in hit.body.decode()

    listed = await admin.get(f"/webhooks/{created.body['id']}/deliveries")
    assert listed.status == 200
    [row] = listed.body
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)
    assert row["idempotency_key"] == key and row["delivered_at"] is not None
    assert secret not in json.dumps(listed.body)


async def test_a_failing_receiver_is_retried_with_backoff_and_the_same_key_until_delivered(
    world: World, receiver: Receiver, sessions: SessionFactory, http: aiohttp.ClientSession
) -> None:
    endpoint = await add_endpoint(sessions, world.org_id, receiver.url())
    assert await enqueue(sessions, world.org_id, "recording.stored", recording_id="r-1") == 1
    receiver.answers = [500, 503]

    t0 = utcnow()
    assert await deliver_pending(sessions, http, t0, config=DEV) == 0
    [row] = await deliveries(sessions, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("pending", 1, 500, "HTTP 500")
    assert row.next_attempt_at is not None and row.claimed_by is None
    # The first retry waits half to all of 60 s (jitter).
    assert t0 + timedelta(seconds=29) < row.next_attempt_at < t0 + timedelta(seconds=61)
    assert await deliver_pending(sessions, http, t0 + timedelta(seconds=29), config=DEV) == 0
    assert len(receiver.hits) == 1, "retried before it was due"

    t1 = row.next_attempt_at + timedelta(seconds=1)
    assert await deliver_pending(sessions, http, t1, config=DEV) == 0
    [row] = await deliveries(sessions, endpoint.id)
    assert (row.attempts, row.last_status_code) == (2, 503)
    assert row.next_attempt_at is not None
    assert t1 + timedelta(seconds=59) < row.next_attempt_at < t1 + timedelta(seconds=121)

    assert await deliver_pending(sessions, http, row.next_attempt_at + timedelta(seconds=1), config=DEV) == 1
    [row] = await deliveries(sessions, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 3, 200, None)
    assert row.next_attempt_at is None and row.delivered_at is not None
    assert receiver.idempotency_keys() == [str(row.idempotency_key)] * 3
    assert [hit.headers["Loket-Delivery-Attempt"] for hit in receiver.hits] == ["1", "2", "3"]
    assert len({hit.body for hit in receiver.hits}) == 1, "every attempt sends the same bytes"
    for hit in receiver.hits:
        receiver_verifies(await secret_of(sessions, endpoint), hit.headers["Loket-Signature"], hit.body)


async def test_after_the_last_attempt_a_delivery_fails_for_good_and_admins_see_it(
    dev_server: TestServer,
    world: World,
    receiver: Receiver,
    sessions: SessionFactory,
    http: aiohttp.ClientSession,
) -> None:
    admin = await as_staff(base_url(dev_server), world, "admin")
    created = await admin.post("/webhooks", {"url": receiver.url(), "events": ["data.erased"]})
    assert created.status == 201, created.body
    secret = created.body["secret"]
    await enqueue(sessions, world.org_id, "data.erased", call_id=str(uuid.uuid4()))
    receiver.answers = [500] * 10
    config = dataclasses.replace(DEV, max_attempts=3)

    t0 = utcnow()
    for day in range(4):  # far enough apart that every retry is due
        assert await deliver_pending(sessions, http, t0 + timedelta(days=day), config=config) == 0
    assert len(receiver.hits) == 3

    listed = await admin.get(f"/webhooks/{created.body['id']}/deliveries")
    assert listed.status == 200, listed.body
    [row] = listed.body
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 3, 500)
    assert row["last_error"] == "HTTP 500"
    assert row["next_attempt_at"] is None and row["delivered_at"] is None
    assert row["event"] == "data.erased" and row["idempotency_key"] == receiver.idempotency_keys()[0]
    # The secret was in the creation answer only.
    for path in ("/webhooks", f"/webhooks/{created.body['id']}/deliveries", "/audit-events"):
        answer = await admin.get(path)
        assert answer.status == 200 and secret not in json.dumps(answer.body), path
    assert "secret" not in (await admin.get("/webhooks")).body[0]


async def test_two_workers_never_send_one_delivery_twice(
    world: World, receiver: Receiver, sessions: SessionFactory, http: aiohttp.ClientSession
) -> None:
    await add_endpoint(sessions, world.org_id, receiver.url())
    for n in range(12):
        await enqueue(sessions, world.org_id, "transcript.ready", transcript_id=f"t-{n}")
    receiver.delay = 0.05  # a slow receiver: the other worker gets its turn
    config = dataclasses.replace(DEV, batch_size=1)

    results = await asyncio.gather(
        deliver_pending(sessions, http, config=config, worker_id="worker-a"),
        deliver_pending(sessions, http, config=config, worker_id="worker-b"),
    )
    assert sum(results) == 12
    assert receiver.most_at_once == 2, "the two workers really sent side by side"
    assert len(receiver.hits) == 12
    assert max(Counter(receiver.idempotency_keys()).values()) == 1


async def test_inactive_endpoints_and_unsubscribed_events_get_nothing(
    world: World,
    backend: Backend,
    receiver: Receiver,
    sessions: SessionFactory,
    http: aiohttp.ClientSession,
) -> None:
    calls_only = await add_endpoint(sessions, world.org_id, receiver.url("/calls-only"), ["call.ended"])
    await add_endpoint(sessions, world.org_id, receiver.url("/inactive"), ALL_EVENTS, active=False)
    other = await make_world(backend)
    await add_endpoint(sessions, other.org_id, receiver.url("/other-org"), ALL_EVENTS)

    assert await enqueue(sessions, world.org_id, "transcript.ready", transcript_id="t") == 0
    assert await enqueue(sessions, world.org_id, "call.ended", call_id="c-1") == 1
    assert await deliver_pending(sessions, http, config=DEV) == 1
    assert [hit.path for hit in receiver.hits] == ["/calls-only"]
    with pytest.raises(ValueError, match=r"call\.started"):
        await enqueue(sessions, world.org_id, "call.started")

    # Switched off after the event: the delivery waits, and goes out once it is on again.
    assert await enqueue(sessions, world.org_id, "call.ended", call_id="c-2") == 1
    async with sessions() as db:
        endpoint = await db.get(WebhookEndpoint, calls_only.id)
        assert endpoint is not None
        await webhooks.change_endpoint(db, endpoint, actor="test", changes={"active": False})
        await db.commit()
    assert await deliver_pending(sessions, http, config=DEV) == 0
    assert len(receiver.hits) == 1
    async with sessions() as db:
        endpoint = await db.get(WebhookEndpoint, calls_only.id)
        assert endpoint is not None
        await webhooks.change_endpoint(db, endpoint, actor="test", changes={"active": True})
        await db.commit()
    assert await deliver_pending(sessions, http, config=DEV) == 1
    assert json.loads(receiver.hits[-1].body)["data"] == {"call_id": "c-2"}


async def test_a_redirect_is_not_followed(
    world: World, receiver: Receiver, sessions: SessionFactory, http: aiohttp.ClientSession
) -> None:
    endpoint = await add_endpoint(sessions, world.org_id, receiver.url())
    await enqueue(sessions, world.org_id, "call.ended", call_id="c")
    receiver.answers = [302]
    assert await deliver_pending(sessions, http, config=DEV) == 0
    assert [hit.path for hit in receiver.hits] == ["/hook"]
    [row] = await deliveries(sessions, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 302)
    assert row.last_error is not None and "redirect" in row.last_error


async def test_production_rules_refuse_private_targets_when_sending(
    world: World, receiver: Receiver, sessions: SessionFactory
) -> None:
    port = receiver.url().rsplit(":", 1)[1].split("/")[0]
    targets = [f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook"]
    hostname = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(hostname, None)}
    if not any(webhooks.is_public_address(address.split("%")[0]) for address in addresses):
        targets.append(f"http://{hostname}:{port}/hook")  # a DNS name of a private address
    endpoints = [await add_endpoint(sessions, world.org_id, target) for target in targets]
    await enqueue(sessions, world.org_id, "call.ended", call_id="c")

    sender = WebhookSender(sessions, config=PRODUCTION)
    await sender.start()
    try:
        assert await sender.run() == 0
    finally:
        await sender.stop()
        await sender.stop()  # idempotent
    assert receiver.hits == []
    for endpoint in endpoints:
        [row] = await deliveries(sessions, endpoint.id)
        assert row.attempts == 1 and row.last_status_code is None
        assert row.last_error is not None and row.last_error.startswith("target refused"), row.last_error
    # The session's own resolver refuses too: a name that changes its address after the
    # check (DNS rebinding) still cannot reach inside.
    async with webhook_http_session(PRODUCTION) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.post(f"http://localhost:{port}/hook", data=b"{}")
    assert isinstance(caught.value.os_error, TargetRefused)
    assert receiver.hits == []


async def test_each_role_may_call_exactly_the_admin_webhook_endpoints(
    server: TestServer, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    created = await admin.post("/webhooks", {"url": "https://hooks.example/loket", "events": ["call.ended"]})
    assert created.status == 201, created.body
    webhook = created.body["id"]
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/webhooks", None),
        ("POST", "/webhooks", {"url": "https://hooks.example/2", "events": ["call.ended"]}),
        ("PATCH", f"/webhooks/{webhook}", {"active": True}),
        ("GET", f"/webhooks/{webhook}/deliveries", None),
        ("DELETE", f"/webhooks/{webhook}", None),
    ]
    nobody = StaffApi(url, None, uuid.uuid4())
    for role in ("adviser", "supervisor", "dpo"):
        api = await as_staff(url, world, role)
        for method, path, payload in routes:
            answer = await api.request(method, path, json=payload)
            assert answer.status == 403 and answer.error_code == "forbidden", (role, method, path)
            assert (await nobody.request(method, path, json=payload)).status == 401
    for method, path, payload in routes:
        answer = await admin.request(method, path, json=payload)
        assert 200 <= answer.status < 300, (method, path, answer.body)
    document = (await nobody.get("/openapi.json")).body
    assert document["paths"]["/api/v1/webhooks"]["post"]["description"] == "Roles: admin"
    assert "secret" not in document["components"]["schemas"]["WebhookOut"]["properties"]


async def test_an_admin_of_another_organisation_gets_404_for_every_webhook_route(
    server: TestServer, world: World, backend: Backend
) -> None:
    url = base_url(server)
    admin_a = await as_staff(url, world, "admin")
    created = await admin_a.post("/webhooks", {"url": "https://hooks.example/a", "events": ["call.ended"]})
    webhook = created.body["id"]
    admin_b = await as_staff(url, await make_world(backend), "admin")
    for method, path, payload in [
        ("PATCH", f"/webhooks/{webhook}", {"url": "https://evil.example/steal"}),
        ("GET", f"/webhooks/{webhook}/deliveries", None),
        ("DELETE", f"/webhooks/{webhook}", None),
        ("PATCH", f"/webhooks/{uuid.uuid4()}", {"active": False}),
        ("GET", "/webhooks/not-a-uuid/deliveries", None),
    ]:
        answer = await admin_b.request(method, path, json=payload)
        assert answer.status == 404 and answer.error_code == "not_found", (method, path, answer.body)
    assert (await admin_b.get("/webhooks")).body == []
    [mine] = (await admin_a.get("/webhooks")).body
    assert mine["url"] == "https://hooks.example/a" and mine["active"] is True


async def test_bad_webhook_bodies_are_422_with_a_message_and_change_nothing(
    strict_server: TestServer, world: World
) -> None:
    admin = await as_staff(base_url(strict_server), world, "admin")
    created = await admin.post("/webhooks", {"url": "https://hooks.example/h", "events": ["call.ended"]})
    webhook = created.body["id"]
    before = len(await admin.audit_events(limit="200"))
    ok = ["call.ended"]
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/webhooks", {"url": "ftp://hooks.example/h", "events": ok}, "https://"),
        ("POST", "/webhooks", {"url": "http://hooks.example/h?token=s3cr3t", "events": ok}, "https"),
        ("POST", "/webhooks", {"url": "https://127.0.0.1/h", "events": ok}, "private"),
        ("POST", "/webhooks", {"url": "https://10.1.2.3:8443/h", "events": ok}, "private"),
        ("POST", "/webhooks", {"url": "https://[::ffff:192.168.0.1]/h", "events": ok}, "private"),
        ("POST", "/webhooks", {"url": "https://169.254.169.254/latest", "events": ok}, "private"),
        ("POST", "/webhooks", {"url": "https://localhost/h", "events": ok}, "loopback"),
        ("POST", "/webhooks", {"url": "https://me:pw@hooks.example/h", "events": ok}, "credentials"),
        ("POST", "/webhooks", {"url": "https://hooks.example:99999/h", "events": ok}, "url"),
        ("POST", "/webhooks", {"url": "hooks.example/h", "events": ok}, "url"),
        ("POST", "/webhooks", {"url": "https://hooks.example/h", "events": ["call.started"]}, "call.started"),
        ("POST", "/webhooks", {"url": "https://hooks.example/h", "events": []}, "events"),
        ("POST", "/webhooks", {"url": "https://hooks.example/h"}, "events"),
        ("POST", "/webhooks", {"url": "https://hooks.example/h", "events": ok, "secret": "x"}, "secret"),
        ("PATCH", f"/webhooks/{webhook}", {"events": ["nope"]}, "nope"),
        ("PATCH", f"/webhooks/{webhook}", {"url": "http://hooks.example/h"}, "https"),
        ("PATCH", f"/webhooks/{webhook}", {"active": None}, "active"),
    ]
    for method, path, payload, mentions in cases:
        answer = await admin.request(method, path, json=payload)
        assert answer.status == 422, (payload, answer.body)
        assert answer.error_code == "invalid_input"
        message = answer.body["error"]["message"]
        assert mentions in message, (payload, message)
        assert "s3cr3t" not in message  # a receiver's token in the URL is never echoed
    assert len(await admin.audit_events(limit="200")) == before
    assert [w["url"] for w in (await admin.get("/webhooks")).body] == ["https://hooks.example/h"]


async def test_changes_are_audited_without_the_secret_or_the_receivers_token(
    server: TestServer, world: World
) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    created = await admin.post(
        "/webhooks", {"url": "https://hooks.example/loket?token=abc123", "events": ["call.ended"]}
    )
    assert created.status == 201, created.body
    webhook, secret = created.body["id"], created.body["secret"]
    assert set(created.body) == {"id", "url", "events", "active", "created_at", "secret"}
    target = f"webhook:{webhook}"
    event = await admin.audit_event("webhook.create", target)
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"] == {
        "url": "https://hooks.example/loket?<redacted>",
        "events": ["call.ended"],
        "active": True,
    }

    changed = await admin.patch(
        f"/webhooks/{webhook}", {"events": ["call.ended", "data.erased"], "active": False}
    )
    assert changed.status == 200 and changed.body["active"] is False
    assert changed.body["events"] == ["call.ended", "data.erased"]
    event = await admin.audit_event("webhook.update", target)
    assert event["details"] == {"events": ["call.ended", "data.erased"], "active": False}
    before = len(await admin.audit_events(limit="200"))
    assert (await admin.patch(f"/webhooks/{webhook}", {})).status == 200
    assert len(await admin.audit_events(limit="200")) == before  # an empty PATCH is not audited

    assert (await admin.delete(f"/webhooks/{webhook}")).status == 204
    event = await admin.audit_event("webhook.delete", target)
    assert event["details"] == {
        "url": "https://hooks.example/loket?<redacted>",
        "dropped_pending_deliveries": 0,
    }
    assert (await admin.get("/webhooks")).body == []
    assert (await admin.get(f"/webhooks/{webhook}/deliveries")).status == 404
    trail = json.dumps(await admin.audit_events(limit="200"))
    assert secret not in trail and "abc123" not in trail


def test_signatures_refuse_a_stale_timestamp_and_malformed_headers() -> None:
    body = b'{"event":"call.ended"}'
    now = int(time.time())
    assert webhooks.verify_signature("whsec_k", webhooks.sign("whsec_k", body, now), body)
    assert not webhooks.verify_signature("whsec_k", webhooks.sign("whsec_k", body, now - 301), body)
    for header in ("", "t=abc,v1=00", "v1=00", f"t={now}"):
        assert not webhooks.verify_signature("whsec_k", header, body)
    with pytest.raises(ValueError, match="lease"):
        WebhookConfig(timeout_seconds=10, lease_seconds=5)


async def test_a_signing_secret_is_stored_sealed_and_only_the_master_key_opens_it(
    dev_server: TestServer,
    world: World,
    backend: Backend,
    receiver: Receiver,
    sessions: SessionFactory,
    http: aiohttp.ClientSession,
) -> None:
    """Webhook secrets at rest (issue 12): the row holds the secret sealed under a key derived from
    the master key, bound to its endpoint; a copy of the database alone gives nothing to sign with."""
    admin = await as_staff(base_url(dev_server), world, "admin")
    created = await admin.post("/webhooks", {"url": receiver.url(), "events": ["call.ended"]})
    assert created.status == 201, created.body
    secret = created.body["secret"]
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            row = await db.get(WebhookEndpoint, uuid.UUID(created.body["id"]))
            assert row is not None
            stored = row.secret
            other = await add_endpoint(sessions, world.org_id, receiver.url())
    finally:
        await engine.dispose()
    assert secret not in stored and stored.startswith("sealed:v1:")
    async with sessions() as db:
        assert webhooks.reveal_secret(db, row) == secret
        # Sealed for its own endpoint: moved to another row, it does not open.
        moved = WebhookEndpoint(
            id=other.id, org_id=world.org_id, url=receiver.url(), secret=stored, events=[]
        )
        with pytest.raises(LoketError, match="does not open"):
            webhooks.reveal_secret(db, moved)
    # Another master key (a stolen database with a guessed key) opens nothing.
    stranger = create_engine(backend.database_url)
    try:
        async with create_session_factory(stranger, keys=InstallationKeys(secrets.token_bytes(32)))() as db:
            with pytest.raises(LoketError, match="no configured master key"):
                webhooks.reveal_secret(db, row)
    finally:
        await stranger.dispose()


async def test_a_delivery_whose_secret_no_key_opens_fails_its_attempt_and_the_others_are_sent(
    world: World, receiver: Receiver, sessions: SessionFactory, http: aiohttp.ClientSession, backend: Backend
) -> None:
    """An endpoint sealed under a master key this installation no longer has (retired without
    LOKET_RETIRED_MASTER_KEYS) must not stop every other organisation's deliveries."""
    stranger = create_engine(backend.database_url)
    try:
        lost_keys = create_session_factory(stranger, keys=InstallationKeys(secrets.token_bytes(32)))
        orphan = await add_endpoint(lost_keys, world.org_id, receiver.url("/orphan"))
    finally:
        await stranger.dispose()
    kept = await add_endpoint(sessions, world.org_id, receiver.url())
    await enqueue(sessions, world.org_id, "call.ended", call_id="c")
    assert await deliver_pending(sessions, http, config=DEV) == 1
    assert [hit.path for hit in receiver.hits] == ["/hook"]
    [sent] = await deliveries(sessions, kept.id)
    [unsigned] = await deliveries(sessions, orphan.id)
    assert sent.status == "delivered"
    assert (unsigned.status, unsigned.attempts) == ("pending", 1)
    assert "secret unavailable" in (unsigned.last_error or "")
