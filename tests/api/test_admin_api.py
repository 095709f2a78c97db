"""The staff/admin REST resources as a whole: who may call what, organisation isolation, the
error shape, the access log and the OpenAPI document; on both backend pairs, over real HTTP.

``StaffApi`` and ``as_staff`` are shared with the per-resource ``test_admin_*`` files.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from db import AccessLogEntry, create_engine, create_session_factory
from tests.conftest import Backend, World, base_url, login, make_world

# Every endpoint of this admin resources: (method, path template).
ADMIN_ROUTES = [
    ("GET", "/queues"),
    ("POST", "/queues"),
    ("PATCH", "/queues/{queue_id}"),
    ("DELETE", "/queues/{queue_id}"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("PATCH", "/users/{user_id}"),
    ("GET", "/widget-keys"),
    ("POST", "/widget-keys"),
    ("PATCH", "/widget-keys/{widget_key_id}"),
    ("GET", "/calls"),
    ("GET", "/audit-events"),
]


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def error_code(self) -> str:
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        assert set(self.body["error"]) == {"code", "message"}, self.body
        assert self.body["error"]["message"], self.body
        code: str = self.body["error"]["code"]
        return code


@dataclass
class StaffApi:
    """Real HTTP requests to ``/api/v1`` as one logged-in staff member (or nobody)."""

    url: str
    token: str | None
    user_id: uuid.UUID
    email: str = ""

    async def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, f"{self.url}/api/v1{path}", json=json, params=params, headers=headers
            ) as response,
        ):
            if response.content_type == "application/json":
                return Answer(response.status, await response.json())
            return Answer(response.status, await response.text())

    async def get(self, path: str, **params: str) -> Answer:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, json: Any) -> Answer:
        return await self.request("POST", path, json=json)

    async def patch(self, path: str, json: Any) -> Answer:
        return await self.request("PATCH", path, json=json)

    async def delete(self, path: str) -> Answer:
        return await self.request("DELETE", path)

    async def audit_events(self, **params: str) -> list[dict[str, Any]]:
        answer = await self.get("/audit-events", **params)
        assert answer.status == 200, answer.body
        events: list[dict[str, Any]] = answer.body
        return events

    async def audit_event(self, action: str, target: str) -> dict[str, Any]:
        """The newest event with this action and target (it must exist)."""
        events = await self.audit_events(limit="200")
        for event in events:
            if event["action"] == action and event["target"] == target:
                return event
        raise AssertionError(f"no audit event {action} on {target}; have {[e['action'] for e in events]}")


async def as_staff(url: str, world: World, role: str, **extra: Any) -> StaffApi:
    email, user_id = await world.add_user(role, **extra)
    tokens = await login(url, email)
    return StaffApi(url, tokens["access_token"], user_id, email)


def fill(path: str, ids: dict[str, str]) -> str:
    return path.format(**ids)


async def test_every_admin_route_is_in_the_openapi_document_with_its_roles(server) -> None:
    anonymous = StaffApi(base_url(server), None, uuid.uuid4())
    answer = await anonymous.get("/openapi.json")
    assert answer.status == 200
    paths = answer.body["paths"]
    for method, path in ADMIN_ROUTES:
        operation = paths.get("/api/v1" + path, {}).get(method.lower())
        assert operation is not None, f"{method} {path} missing from the OpenAPI document"
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert operation["description"].startswith("Roles: "), (method, path)
    assert paths["/api/v1/queues"]["post"]["description"] == "Roles: admin"
    assert paths["/api/v1/audit-events"]["get"]["description"] == "Roles: admin, dpo"
    assert "201" in paths["/api/v1/users"]["post"]["responses"]
    assert "204" in paths["/api/v1/queues/{queue_id}"]["delete"]["responses"]
    schemas = answer.body["components"]["schemas"]
    # Secrets never appear in the documented user shape.
    assert "password_hash" not in schemas["UserOut"]["properties"]
    assert "totp_secret" not in schemas["UserOut"]["properties"]


async def test_query_parameters_are_documented_from_the_models_that_check_them(server) -> None:
    paths = (await StaffApi(base_url(server), None, uuid.uuid4()).get("/openapi.json")).body["paths"]

    def query_parameters(path: str) -> dict[str, dict[str, Any]]:
        parameters = paths["/api/v1" + path]["get"].get("parameters", [])
        return {p["name"]: p for p in parameters if p["in"] == "query"}

    calls = query_parameters("/calls")
    assert set(calls) == {"limit", "before", "before_id", "mine", "queue_id", "adviser_id", "outcome"} | {
        "end_reason",
        "from",
        "to",
        "format",
    }
    assert not any(parameter["required"] for parameter in calls.values())
    assert calls["limit"]["schema"]["maximum"] == 200
    media = query_parameters("/recordings/{recording_id}/media")
    assert media["token"]["required"] is True
    assert query_parameters("/queues") == {}


async def test_no_token_or_a_bad_token_is_401_on_every_admin_route(server, world: World) -> None:
    url = base_url(server)
    ids = {"queue_id": str(world.queue_id), "user_id": str(uuid.uuid4()), "widget_key_id": str(uuid.uuid4())}
    for token in (None, "not-a-jwt"):
        api = StaffApi(url, token, uuid.uuid4())
        for method, path in ADMIN_ROUTES:
            answer = await api.request(method, fill(path, ids), json={})
            assert answer.status == 401, (token, method, path, answer.body)
            assert answer.error_code in {"unauthenticated", "invalid_token"}


async def test_each_role_may_call_exactly_its_endpoints(server, world: World) -> None:
    url = base_url(server)
    apis = {role: await as_staff(url, world, role) for role in ("adviser", "supervisor", "admin", "dpo")}
    allowed = {
        ("GET", "/queues"): {"adviser", "supervisor", "admin", "dpo"},
        ("POST", "/queues"): {"admin"},
        ("PATCH", "/queues/{queue_id}"): {"admin"},
        ("DELETE", "/queues/{queue_id}"): {"admin"},
        ("GET", "/users"): {"supervisor", "admin"},
        ("POST", "/users"): {"admin"},
        ("PATCH", "/users/{user_id}"): {"admin"},
        ("GET", "/widget-keys"): {"admin"},
        ("POST", "/widget-keys"): {"admin"},
        ("PATCH", "/widget-keys/{widget_key_id}"): {"admin"},
        ("GET", "/calls"): {"adviser", "supervisor", "admin"},
        ("GET", "/audit-events"): {"admin", "dpo"},
    }
    assert set(allowed) == set(ADMIN_ROUTES)
    # Ids that exist, and bodies that would be accepted, so "allowed" shows as 2xx.
    spare_queue = await apis["admin"].post("/queues", {"name": "Spare"})
    assert spare_queue.status == 201, spare_queue.body
    keys = await apis["admin"].get("/widget-keys")
    ids = {
        "queue_id": spare_queue.body["id"],
        "user_id": str(apis["adviser"].user_id),
        "widget_key_id": keys.body[0]["id"],
    }
    bodies = {
        ("POST", "/queues"): {"name": "Service"},
        ("PATCH", "/queues/{queue_id}"): {"transcription": False},
        ("POST", "/users"): {
            "email": f"new-{uuid.uuid4().hex[:8]}@example.test",
            "role": "adviser",
            "password": "long enough password",
        },
        ("PATCH", "/users/{user_id}"): {"display_name": "Sam"},
        ("POST", "/widget-keys"): {"origins": ["https://other.example"]},
        ("PATCH", "/widget-keys/{widget_key_id}"): {"active": True},
    }
    wrong = []
    # The DELETE goes last for each role: it removes the spare queue.
    for role, api in apis.items():
        for method, path in sorted(ADMIN_ROUTES, key=lambda route: route[0] == "DELETE"):
            answer = await api.request(method, fill(path, ids), json=bodies.get((method, path)))
            if role in allowed[(method, path)]:
                if not 200 <= answer.status < 300:
                    wrong.append(f"{role} {method} {path}: {answer.status}, expected to be allowed")
            elif answer.status != 403 or answer.error_code != "forbidden":
                wrong.append(f"{role} {method} {path}: {answer.status}, expected 403")
    assert not wrong, "\n".join(wrong)


async def test_an_admin_of_another_organisation_gets_404_and_never_sees_its_rows(
    server, world: World, backend: Backend
) -> None:
    url = base_url(server)
    admin_a = await as_staff(url, world, "admin")
    _, adviser_a = await world.add_user("adviser")
    keys_a = await admin_a.get("/widget-keys")
    key_a = keys_a.body[0]["id"]
    other = await make_world(backend)
    admin_b = await as_staff(url, other, "admin")

    missing = uuid.uuid4()
    # Every row of A is unknown to B: the same 404 as an id that does not exist at all.
    answers = {
        "patch queue": await admin_b.patch(f"/queues/{world.queue_id}", {"name": "Taken over"}),
        "delete queue": await admin_b.delete(f"/queues/{world.queue_id}"),
        "patch user": await admin_b.patch(f"/users/{adviser_a}", {"active": False}),
        "promote user": await admin_b.patch(f"/users/{admin_a.user_id}", {"role": "adviser"}),
        "patch widget key": await admin_b.patch(f"/widget-keys/{key_a}", {"active": False}),
        "no such queue": await admin_b.patch(f"/queues/{missing}", {"name": "X"}),
    }
    for what, answer in answers.items():
        assert answer.status == 404, (what, answer.body)
        assert answer.error_code == "not_found", what
    # Not even the wording tells an existing foreign id from a made-up one.
    foreign = answers["patch queue"].body["error"]["message"].replace(str(world.queue_id), "ID")
    made_up = answers["no such queue"].body["error"]["message"].replace(str(missing), "ID")
    assert foreign == made_up
    # B's queue cannot be given to A's staff either.
    foreign_queue = await admin_a.post(
        "/users",
        {
            "email": f"x-{uuid.uuid4().hex[:8]}@example.test",
            "role": "adviser",
            "password": "long enough password",
            "queue_ids": [],
        },
    )
    assert foreign_queue.status == 201
    assigned = await admin_a.patch(f"/users/{foreign_queue.body['id']}", {"queue_ids": [str(other.queue_id)]})
    assert assigned.status == 422 and assigned.error_code == "invalid_input"

    # Lists hold only B's own rows.
    queues_b = await admin_b.get("/queues")
    assert [q["id"] for q in queues_b.body] == [str(other.queue_id)]
    users_b = await admin_b.get("/users")
    assert [u["id"] for u in users_b.body] == [str(admin_b.user_id)]
    keys_b = await admin_b.get("/widget-keys")
    assert [k["key"] for k in keys_b.body] == [other.widget_key]
    events_b = await admin_b.audit_events(limit="200")
    targets_b = {event["target"] for event in events_b}
    assert f"queue:{world.queue_id}" not in targets_b and f"queue:{other.queue_id}" in targets_b

    # And A's rows are untouched.
    queues_a = await admin_a.get("/queues")
    assert [q["name"] for q in queues_a.body] == ["Sales"]
    users_a = {u["id"]: u for u in (await admin_a.get("/users")).body}
    assert users_a[str(adviser_a)]["active"] is True
    assert users_a[str(admin_a.user_id)]["role"] == "admin"
    assert (await admin_a.get("/widget-keys")).body[0]["active"] is True


async def test_path_ids_that_are_not_uuids_are_404(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    for method, path, payload in [
        ("PATCH", "/queues/1", {"name": "X"}),
        ("DELETE", "/queues/..%2F..%2Fetc", None),
        ("PATCH", "/users/admin", {"active": True}),
        ("PATCH", "/widget-keys/wk_abc", {"active": True}),
    ]:
        answer = await admin.request(method, path, json=payload)
        assert answer.status == 404, (method, path, answer.body)
        assert answer.error_code == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "payload", "mentions"),
    [
        ("POST", "/queues", {"name": "X", "colour": "red"}, "colour"),
        ("POST", "/queues", {"name": ""}, "name"),
        ("POST", "/queues", {"name": "X", "languages": "nl"}, "languages"),
        ("POST", "/queues", {"name": "X", "languages": ["dutch"]}, "dutch"),
        ("POST", "/queues", {"name": "X", "timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ("POST", "/queues", {"name": "X", "recording_policy": "always"}, "recording_policy"),
        ("POST", "/queues", {"name": "X", "opening_hours": {"mon": [["17:00", "09:00"]]}}, "opening_hours"),
        ("POST", "/queues", {"name": "X", "opening_hours": {"someday": []}}, "someday"),
        ("POST", "/queues", {"name": "X", "transcription": "maybe"}, "transcription"),
        ("POST", "/users", {"email": "nobody", "role": "adviser", "password": "long enough pw"}, "e-mail"),
        ("POST", "/users", {"email": "a@b.example", "role": "root", "password": "long enough pw"}, "role"),
        ("POST", "/users", {"email": "a@b.example", "role": "adviser", "password": "short"}, "password"),
        ("POST", "/users", {"email": "a@b.example", "role": "adviser"}, "password"),
        ("POST", "/widget-keys", {"origins": []}, "origins"),
        ("POST", "/widget-keys", {"origins": ["https://shop.example/path"]}, "path"),
        ("POST", "/widget-keys", {"origins": ["ftp://shop.example"]}, "origin"),
        ("PATCH", "/queues/{queue_id}", {"name": None}, "name"),
        ("PATCH", "/queues/{queue_id}", {"timezone": None}, "timezone"),
        ("PATCH", "/widget-keys/{widget_key_id}", {"active": None}, "active"),
        ("PATCH", "/widget-keys/{widget_key_id}", {"origins": []}, "origins"),
        ("PATCH", "/users/{user_id}", {"role": None}, "role"),
        ("PATCH", "/users/{user_id}", {"password": "short"}, "password"),
    ],
)
async def test_bad_bodies_are_422_with_a_message_naming_the_problem(
    server, world: World, method: str, path: str, payload: dict[str, Any], mentions: str
) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    _, adviser = await world.add_user("adviser")
    keys = await admin.get("/widget-keys")
    ids = {"queue_id": str(world.queue_id), "user_id": str(adviser), "widget_key_id": keys.body[0]["id"]}
    before = len(await admin.audit_events(limit="200"))
    answer = await admin.request(method, fill(path, ids), json=payload)
    assert answer.status == 422, answer.body
    assert answer.error_code == "invalid_input"
    assert mentions in answer.body["error"]["message"], answer.body
    # Nothing was changed, so nothing was audited.
    assert len(await admin.audit_events(limit="200")) == before


async def test_a_body_that_is_not_json_is_rejected_not_a_500(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{admin.url}/api/v1/queues",
            data=b"{not json",
            headers={"Authorization": f"Bearer {admin.token}", "Content-Type": "application/json"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 422, body
        assert body["error"]["code"] == "invalid_input"


async def test_admin_requests_are_attributed_to_the_staff_member_in_the_access_log(
    server, world: World, backend: Backend
) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    assert (await admin.get("/queues")).status == 200
    assert (await admin.patch(f"/queues/{uuid.uuid4()}", {"name": "X"})).status == 404
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            rows = (
                await db.scalars(select(AccessLogEntry).where(AccessLogEntry.path.like("/api/v1/queues%")))
            ).all()
    finally:
        await engine.dispose()
    mine = [(row.method, row.status) for row in rows if row.user_id == admin.user_id]
    assert ("GET", 200) in mine and ("PATCH", 404) in mine
