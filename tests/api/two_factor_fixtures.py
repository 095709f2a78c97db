"""Staff who have set up two-factor authentication, for tests whose admins and DPOs log in more
than once (those roles get one login without it: ``accounts.two_factor``)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pyotp

from tests.conftest import PASSWORD, World


async def enrolled(url: str, world: World, role: str, **extra: Any) -> tuple[str, list[str]]:
    """A new staff member of ``role`` who enrolled (through the API, in their grace login):
    their e-mail address and ten recovery codes, each good for one more login."""
    email, _ = await world.add_user(role, **extra)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        ) as answer:
            assert answer.status == 200, await answer.text()
            headers = {"Authorization": f"Bearer {(await answer.json())['access_token']}"}
        async with http.post(f"{url}/api/v1/auth/two-factor/enrolment", json={}, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
            secret = (await answer.json())["secret"]
        async with http.post(
            f"{url}/api/v1/auth/two-factor/confirmation",
            json={"code": pyotp.TOTP(secret).now()},
            headers=headers,
        ) as answer:
            assert answer.status == 200, await answer.text()
            codes: list[str] = (await answer.json())["recovery_codes"]
    return email, codes
