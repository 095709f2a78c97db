"""``/api/v1/users``: admins add and change staff, supervisors read them, nobody locks the org out."""

from __future__ import annotations

import secrets

import aiohttp

from tests.api.test_admin_api import StaffApi, as_staff
from tests.conftest import PASSWORD, World, base_url, login

NEW_PASSWORD = "a brand new passphrase 42"


async def login_status(url: str, email: str, password: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}) as response,
    ):
        return response.status


async def test_supervisors_list_staff_without_any_secret(server, world: World) -> None:
    url = base_url(server)
    supervisor = await as_staff(url, world, "supervisor")
    _, adviser_id = await world.add_user("adviser", languages=["nl"], queue_ids=[world.queue_id])
    answer = await supervisor.get("/users")
    assert answer.status == 200
    users = {user["id"]: user for user in answer.body}
    assert set(users) == {str(supervisor.user_id), str(adviser_id)}
    adviser = users[str(adviser_id)]
    assert set(adviser) == {
        "id",
        "email",
        "display_name",
        "role",
        "active",
        "languages",
        "queue_ids",
        "totp_enabled",
        "created_at",
        "location_id",
        "ui_language",
    }
    assert adviser["role"] == "adviser" and adviser["languages"] == ["nl"]
    assert adviser["location_id"] is None
    assert adviser["queue_ids"] == [str(world.queue_id)]
    assert adviser["totp_enabled"] is False
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1/users", headers={"Authorization": f"Bearer {supervisor.token}"}) as response,
    ):
        raw = await response.text()
    assert "argon2" not in raw and "password" not in raw and "totp_secret" not in raw


async def test_an_admin_adds_a_staff_member_who_can_then_log_in(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    tag = secrets.token_hex(4)
    email = f"sanne-{tag}@garage.example"
    created = await admin.post(
        "/users",
        {
            "email": f" Sanne-{tag}@Garage.example ",
            "role": "adviser",
            "password": NEW_PASSWORD,
            "display_name": "Sanne",
            "languages": ["nl", "en"],
            "queue_ids": [str(world.queue_id)],
        },
    )
    assert created.status == 201, created.body
    user = created.body
    assert user["email"] == email
    assert (user["role"], user["display_name"], user["active"]) == ("adviser", "Sanne", True)
    assert user["queue_ids"] == [str(world.queue_id)]
    assert "password" not in str(user)

    tokens = await login(url, email, NEW_PASSWORD)
    assert tokens["access_token"]
    event = await admin.audit_event("user.create", f"user:{user['id']}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"] == {"email": email, "role": "adviser"}

    again = await admin.post("/users", {"email": email, "role": "dpo", "password": NEW_PASSWORD})
    assert again.status == 409 and again.error_code == "email_taken"


async def test_the_console_language_is_set_by_the_user_or_an_admin_and_null_follows_the_browser(
    server, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    adviser = await as_staff(url, world, "adviser")
    me = await adviser.get("/auth/me")
    assert me.status == 200 and me.body["ui_language"] is None  # unset: the console uses the browser's
    # The user sets it themselves.
    changed = await adviser.patch("/auth/me", {"ui_language": "de"})
    assert changed.status == 200 and changed.body["ui_language"] == "de"
    assert (await adviser.get("/auth/me")).body["ui_language"] == "de"
    # An admin sets it through the users API, and may clear it again.
    by_admin = await admin.patch(f"/users/{adviser.user_id}", {"ui_language": "fr"})
    assert by_admin.status == 200 and by_admin.body["ui_language"] == "fr"
    assert (await adviser.get("/auth/me")).body["ui_language"] == "fr"
    cleared = await adviser.patch("/auth/me", {"ui_language": None})
    assert cleared.status == 200 and cleared.body["ui_language"] is None
    # Only the four console languages; a clear 4xx for the rest.
    for bad in ({"ui_language": "es"}, {"ui_language": 7}, {}):
        refused = await adviser.patch("/auth/me", bad)
        assert refused.status == 422, (bad, refused.body)
        assert refused.body["error"]["code"]
    refused = await admin.patch(f"/users/{adviser.user_id}", {"ui_language": "xx"})
    assert refused.status == 422 and refused.body["error"]["code"] == "invalid_input"
    event = await admin.audit_event("user.update", f"user:{adviser.user_id}")
    assert event["details"] == {"ui_language": None}  # the newest: the user cleared it


async def test_an_admin_changes_a_role_and_it_is_audited_as_a_role_change(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    email, adviser_id = await world.add_user("adviser")
    answer = await admin.patch(f"/users/{adviser_id}", {"role": "supervisor", "display_name": "Lead"})
    assert answer.status == 200, answer.body
    assert answer.body["role"] == "supervisor" and answer.body["display_name"] == "Lead"
    event = await admin.audit_event("user.role_change", f"user:{adviser_id}")
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"]["role"] == {"from": "adviser", "to": "supervisor"}
    # The new role is what the next login gets: a supervisor may list staff.
    tokens = await login(url, email)
    promoted = StaffApi(url, tokens["access_token"], adviser_id, email)
    assert (await promoted.get("/users")).status == 200


async def test_a_deactivated_user_cannot_log_in_and_a_new_password_replaces_the_old(
    server, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    email, adviser_id = await world.add_user("adviser")

    changed = await admin.patch(f"/users/{adviser_id}", {"password": NEW_PASSWORD})
    assert changed.status == 200, changed.body
    assert await login_status(url, email, PASSWORD) == 401
    assert await login_status(url, email, NEW_PASSWORD) == 200
    event = await admin.audit_event("user.update", f"user:{adviser_id}")
    assert event["details"] == {"password": "changed"}
    assert NEW_PASSWORD not in str(await admin.audit_events(limit="200"))

    off = await admin.patch(f"/users/{adviser_id}", {"active": False})
    assert off.status == 200 and off.body["active"] is False
    assert await login_status(url, email, NEW_PASSWORD) == 401
    event = await admin.audit_event("user.update", f"user:{adviser_id}")
    assert event["details"] == {"active": False}


async def test_an_admin_cannot_demote_or_deactivate_themselves(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    count = len(await admin.audit_events(limit="200"))
    for change in ({"role": "adviser"}, {"role": "dpo", "display_name": "Me"}, {"active": False}):
        answer = await admin.patch(f"/users/{admin.user_id}", change)
        assert answer.status == 409, (change, answer.body)
        assert answer.error_code == "self_lockout"
    assert len(await admin.audit_events(limit="200")) == count
    me = {user["id"]: user for user in (await admin.get("/users")).body}[str(admin.user_id)]
    assert me["role"] == "admin" and me["active"] is True and me["display_name"] != "Me"

    # What does not lock them out is fine, and so is demoting another admin.
    fine = await admin.patch(
        f"/users/{admin.user_id}", {"role": "admin", "active": True, "display_name": "Chief"}
    )
    assert fine.status == 200 and fine.body["display_name"] == "Chief"
    _, other_admin = await world.add_user("admin")
    demoted = await admin.patch(f"/users/{other_admin}", {"role": "adviser"})
    assert demoted.status == 200 and demoted.body["role"] == "adviser"


async def test_queue_assignment_is_replaced_as_a_whole(server, world: World) -> None:
    admin = await as_staff(base_url(server), world, "admin")
    second = await admin.post("/queues", {"name": "Parts"})
    _, adviser_id = await world.add_user("adviser", queue_ids=[world.queue_id])
    answer = await admin.patch(f"/users/{adviser_id}", {"queue_ids": [second.body["id"]]})
    assert answer.status == 200, answer.body
    assert answer.body["queue_ids"] == [second.body["id"]]
    listed = {user["id"]: user for user in (await admin.get("/users")).body}
    assert listed[str(adviser_id)]["queue_ids"] == [second.body["id"]]
    event = await admin.audit_event("user.update", f"user:{adviser_id}")
    assert event["details"] == {"queue_ids": [second.body["id"]]}


async def refresh_status(url: str, refresh_token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/auth/refresh", json={"refresh_token": refresh_token}) as response,
    ):
        return response.status


async def test_a_password_change_or_deactivation_ends_the_users_other_sessions(server, world: World) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    email, adviser_id = await world.add_user("adviser")
    laptop = await login(url, email)
    assert (await admin.patch(f"/users/{adviser_id}", {"password": NEW_PASSWORD})).status == 200
    assert await refresh_status(url, laptop["refresh_token"]) == 401

    phone = await login(url, email, NEW_PASSWORD)
    assert (await admin.patch(f"/users/{adviser_id}", {"active": False})).status == 200
    assert await refresh_status(url, phone["refresh_token"]) == 401


async def test_a_deactivation_or_demotion_applies_to_the_next_request_not_at_token_expiry(
    server, world: World
) -> None:
    url = base_url(server)
    admin = await as_staff(url, world, "admin")
    colleague = await as_staff(url, world, "admin")
    assert (await colleague.get("/users")).status == 200

    assert (await admin.patch(f"/users/{colleague.user_id}", {"role": "adviser"})).status == 200
    demoted = await colleague.get("/users")  # same, still unexpired access token
    assert demoted.status == 403

    assert (await admin.patch(f"/users/{colleague.user_id}", {"active": False})).status == 200
    disabled = await colleague.get("/queues")
    assert disabled.status == 401
    assert disabled.error_code == "account_disabled"
