"""Two-factor authentication over real HTTP on both backend pairs: enrolment with a QR code and a
first code, recovery codes, the grace login for roles that must enrol, the organisation policy, and
an unusable stored secret (a 500 before)."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from accounts import totp
from accounts.credential_models import RecoveryCode
from accounts.models import User
from db import create_engine, create_session_factory
from tests.conftest import PASSWORD, Backend, World, base_url

LOGIN = "/api/v1/auth/login"


async def set_user(backend: Backend, user_id: Any, **values: Any) -> None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            await db.execute(update(User).where(User.id == user_id).values(**values))
            await db.commit()
    finally:
        await engine.dispose()


async def post(
    server: TestServer, path: str, body: dict[str, Any], token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(base_url(server) + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json() if response.content_type == "application/json" else None


@pytest.mark.parametrize("secret", ["JBSWY3DPEHPK3PXP", "JBSWY3DP", "not base32!"])
async def test_a_stored_secret_under_112_bits_is_a_clear_refusal_at_login_not_a_500(
    server: TestServer, world: World, backend: Backend, secret: str
) -> None:
    email, user_id = await world.add_user("adviser")
    await set_user(backend, user_id, totp_secret=secret)
    status, body = await post(server, LOGIN, {"email": email, "password": PASSWORD, "totp": "123456"})
    assert status == 403, body
    assert body["error"]["code"] == "totp_secret_unusable"
    assert "112 bits" in body["error"]["message"]


async def get(server: TestServer, path: str, token: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base_url(server) + path, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, await response.json()


async def delete(server: TestServer, path: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.delete(base_url(server) + path, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status


async def log_in(server: TestServer, email: str, totp: str | None = None) -> tuple[int, Any]:
    credentials = {"email": email, "password": PASSWORD}
    return await post(server, LOGIN, credentials if totp is None else {**credentials, "totp": totp})


async def enrol(server: TestServer, token: str) -> tuple[str, list[str]]:
    """Enrol the token's user; their secret and recovery codes."""
    status, started = await post(server, "/api/v1/auth/two-factor/enrolment", {}, token)
    assert status == 200, started
    secret = started["secret"]
    status, confirmed = await post(
        server, "/api/v1/auth/two-factor/confirmation", {"code": pyotp.TOTP(secret).now()}, token
    )
    assert status == 200, confirmed
    return secret, confirmed["recovery_codes"]


async def stored_user(backend: Backend, user_id: Any) -> User:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            user = await db.get(User, user_id)
            assert user is not None
            return user
    finally:
        await engine.dispose()


async def test_an_adviser_enrols_with_a_qr_code_and_a_first_code_and_then_needs_a_code(
    server: TestServer, world: World, backend: Backend
) -> None:
    email, user_id = await world.add_user("adviser")
    status, tokens = await log_in(server, email)
    assert status == 200, tokens
    token = tokens["access_token"]
    status, state = await get(server, "/api/v1/auth/two-factor", token)
    assert (status, state["enabled"], state["required"]) == (200, False, False), state

    status, started = await post(server, "/api/v1/auth/two-factor/enrolment", {}, token)
    assert status == 200, started
    secret = started["secret"]
    assert totp.secret_bits(secret) == 160
    assert started["qr_svg"].startswith("data:image/svg+xml")
    assert (
        started["otpauth_uri"].startswith("otpauth://totp/") and f"secret={secret}" in started["otpauth_uri"]
    )
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    status, refused = await post(server, "/api/v1/auth/two-factor/confirmation", {"code": wrong}, token)
    assert (status, refused["error"]["code"]) == (422, "invalid_totp")
    status, confirmed = await post(
        server, "/api/v1/auth/two-factor/confirmation", {"code": pyotp.TOTP(secret).now()}, token
    )
    assert status == 200, confirmed
    codes = confirmed["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))

    # At rest: the secret is sealed, and the recovery codes are keyed hashes.
    user = await stored_user(backend, user_id)
    assert user.totp_secret is not None and user.totp_secret.startswith("v1:")
    assert secret not in user.totp_secret
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            hashes = set(
                await db.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id))
            )
    finally:
        await engine.dispose()
    assert len(hashes) == 10 and not hashes & {code.replace("-", "") for code in codes}

    status, body = await log_in(server, email)
    assert (status, body["error"]["code"]) == (401, "totp_required")
    status, body = await log_in(server, email, codes[0])
    assert status == 200, body
    status, body = await log_in(server, email, codes[0])
    assert (status, body["error"]["code"]) == (401, "invalid_totp"), "a recovery code works once"
    status, state = await get(server, "/api/v1/auth/two-factor", token)
    assert (state["enabled"], state["recovery_codes_left"]) == (True, 9)
    status, body = await post(server, "/api/v1/auth/two-factor/enrolment", {}, token)
    assert (status, body["error"]["code"]) == (409, "totp_already_enabled")


@pytest.mark.parametrize(
    ("secret", "code"), [("JBSWY3DPEHPK3PXP", "totp_secret_too_short"), ("1!", "totp_secret_invalid")]
)
async def test_enrolment_refuses_a_secret_under_112_bits(
    server: TestServer, world: World, secret: str, code: str
) -> None:
    email, _ = await world.add_user("adviser")
    token = (await log_in(server, email))[1]["access_token"]
    status, body = await post(server, "/api/v1/auth/two-factor/enrolment", {"secret": secret}, token)
    assert (status, body["error"]["code"]) == (422, code), body
    own = base64.b32encode(bytes(range(14))).decode().rstrip("=")  # exactly 112 bits
    status, body = await post(server, "/api/v1/auth/two-factor/enrolment", {"secret": own}, token)
    assert (status, body["secret"]) == (200, own), body


async def test_an_admin_gets_one_login_to_enrol_and_then_must_use_two_factor(
    server: TestServer, world: World
) -> None:
    email, user_id = await world.add_user("admin")
    status, first = await log_in(server, email)
    assert status == 200, first
    status, state = await get(server, "/api/v1/auth/two-factor", first["access_token"])
    assert (state["required"], state["enabled"], state["grace_used"]) == (True, False, True)
    status, body = await log_in(server, email)
    assert (status, body["error"]["code"]) == (403, "totp_enrolment_required"), body

    # Enrolling in the grace session is what the console does; afterwards a code is needed.
    secret, _ = await enrol(server, first["access_token"])
    status, body = await log_in(server, email)
    assert (status, body["error"]["code"]) == (401, "totp_required")
    status, body = await log_in(server, email, pyotp.TOTP(secret).at(time.time() + 30))
    assert status == 200, body

    # Another admin resets them: one more grace login, then enrolment is required again.
    other, _ = await world.add_user("admin")
    other_token = (await log_in(server, other))[1]["access_token"]
    assert await delete(server, f"/api/v1/users/{user_id}/two-factor", other_token) == 204
    status, body = await log_in(server, email)
    assert status == 200, body
    status, body = await log_in(server, email)
    assert (status, body["error"]["code"]) == (403, "totp_enrolment_required")


async def test_an_organisation_can_require_two_factor_of_every_role(server: TestServer, world: World) -> None:
    admin, _ = await world.add_user("admin")
    adviser, _ = await world.add_user("adviser")
    admin_token = (await log_in(server, admin))[1]["access_token"]
    status, body = await patch(server, "/api/v1/organisation/two-factor", {"all_roles": True}, admin_token)
    assert (status, body) == (200, {"all_roles": True})
    assert (await log_in(server, adviser))[0] == 200
    status, body = await log_in(server, adviser)
    assert (status, body["error"]["code"]) == (403, "totp_enrolment_required")
    adviser_token_status, _ = await patch(
        server, "/api/v1/organisation/two-factor", {"all_roles": False}, "x"
    )
    assert adviser_token_status == 401


async def test_a_secret_stored_in_clear_before_sealing_still_works_and_is_sealed_at_login(
    server: TestServer, world: World, backend: Backend
) -> None:
    email, user_id = await world.add_user("dpo")
    secret = pyotp.random_base32()
    await set_user(backend, user_id, totp_secret=secret)
    status, body = await log_in(server, email, pyotp.TOTP(secret).now())
    assert status == 200, body
    stored = (await stored_user(backend, user_id)).totp_secret
    assert stored is not None and stored.startswith("v1:") and secret not in stored


async def patch(server: TestServer, path: str, data: dict[str, Any], token: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.patch(
            base_url(server) + path, json=data, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status, await response.json()


async def test_guessing_codes_in_a_session_is_rate_limited(server: TestServer, world: World) -> None:
    email, _ = await world.add_user("adviser")
    token = (await log_in(server, email))[1]["access_token"]
    status, started = await post(server, "/api/v1/auth/two-factor/enrolment", {}, token)
    assert status == 200, started
    wrong = f"{(int(pyotp.TOTP(started['secret']).now()) + 500_000) % 1_000_000:06d}"
    statuses = [
        (await post(server, "/api/v1/auth/two-factor/confirmation", {"code": wrong}, token))[0]
        for _ in range(11)
    ]
    assert statuses == [422] * 10 + [429]
    status, body = await post(
        server, "/api/v1/auth/two-factor/confirmation", {"code": pyotp.TOTP(started["secret"]).now()}, token
    )
    assert (status, body["error"]["code"]) == (429, "rate_limited"), (
        "even the right code waits for the window"
    )
