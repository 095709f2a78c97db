"""``PUT /api/v1/widget/rating``: a visitor rates its own answered call after it ended, with its
visitor token; on both backend pairs, over real HTTP and socket.io."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from db import create_engine, create_session_factory
from signaling.models import Call
from tests.api.test_admin_api import as_staff
from tests.conftest import (
    Backend,
    Client,
    World,
    base_url,
    connect_adviser,
    login,
    make_world,
    visitor_session,
)

RATING = "/api/v1/widget/rating"


@dataclass
class Rated:
    status: int
    body: Any
    headers: Any

    @property
    def error_code(self) -> str:
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        assert set(self.body["error"]) == {"code", "message"} and self.body["error"]["message"], self.body
        code: str = self.body["error"]["code"]
        return code


@dataclass
class Visitor:
    token: str
    client: Client
    call_id: str = ""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def rate(
    http: aiohttp.ClientSession,
    server: object,
    token: str | None,
    payload: Any,
    *,
    origin: str | None = None,
    raw: bytes | None = None,
) -> Rated:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if origin is not None:
        headers["Origin"] = origin
    url = base_url(server) + RATING  # type: ignore[arg-type]
    if raw is not None:
        request = http.put(url, data=raw, headers={**headers, "Content-Type": "application/json"})
    else:
        request = http.put(url, json=payload, headers=headers)
    async with request as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return Rated(response.status, body, response.headers)


async def a_visitor(server: object, world: World, clients: list[Client]) -> Visitor:
    url = base_url(server)  # type: ignore[arg-type]
    token = (await visitor_session(url, world))["visitor_token"]
    client = Client("/visitor")
    clients.append(client)
    await client.connect(url, token)
    return Visitor(token, client)


async def join(visitor: Visitor, world: World) -> None:
    joined = await visitor.client.call("queue:join", {"queue_id": str(world.queue_id)})
    assert "call_id" in joined, joined
    visitor.call_id = joined["call_id"]


async def answered_call(server: object, world: World, clients: list[Client]) -> tuple[Visitor, Client]:
    """A visitor in a call an adviser accepted."""
    adviser = await connect_adviser(base_url(server), (await world.add_user())[0], clients)  # type: ignore[arg-type]
    visitor = await a_visitor(server, world, clients)
    await join(visitor, world)
    await adviser.wait_for("call:incoming", call_id=visitor.call_id)
    assert (await adviser.call("call:accept", {"call_id": visitor.call_id}))["ok"]
    await visitor.client.wait_for("call:accepted")
    return visitor, adviser


async def ended_call(server: object, world: World, clients: list[Client]) -> Visitor:
    """A visitor whose answered call the adviser ended; its socket is closed, as the widget's is."""
    visitor, adviser = await answered_call(server, world, clients)
    assert (await adviser.call("call:end"))["ok"]
    await visitor.client.wait_for("call:ended")
    await visitor.client.close()
    return visitor


async def stored_rating(backend: Backend, call_id: str) -> int | None:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = await db.get(Call, uuid.UUID(call_id))
            assert call is not None
            return call.rating
    finally:
        await engine.dispose()


async def test_a_visitor_rates_its_ended_call_and_may_change_its_mind(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    visitor = await ended_call(server, world, clients)
    assert await stored_rating(backend, visitor.call_id) is None

    first = await rate(http, server, visitor.token, {"rating": 4}, origin=world.origin)
    assert first.status == 200, first.body
    assert first.body == {"call_id": visitor.call_id, "rating": 4}
    # The widget reads the answer from the shop's page: CORS for its origin, no credentials.
    assert first.headers["Access-Control-Allow-Origin"] == world.origin
    assert "Access-Control-Allow-Credentials" not in first.headers
    assert await stored_rating(backend, visitor.call_id) == 4

    for stars in (1, 5, 2):
        again = await rate(http, server, visitor.token, {"rating": stars})
        assert again.status == 200 and again.body["rating"] == stars, again.body
    assert await stored_rating(backend, visitor.call_id) == 2  # the last one counts


async def test_a_call_cannot_be_rated_before_it_ended_or_when_nobody_answered(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    lonely = await a_visitor(server, world, clients)
    no_call = await rate(http, server, lonely.token, {"rating": 5})
    assert (no_call.status, no_call.error_code) == (404, "call_not_found")

    await join(lonely, world)  # nobody is available: it waits
    waiting = await rate(http, server, lonely.token, {"rating": 5})
    assert (waiting.status, waiting.error_code) == (409, "call_not_ended")
    assert (await lonely.client.call("queue:leave"))["ok"]
    abandoned = await rate(http, server, lonely.token, {"rating": 5})
    assert (abandoned.status, abandoned.error_code) == (409, "call_not_answered")
    assert await stored_rating(backend, lonely.call_id) is None

    visitor, adviser = await answered_call(server, world, clients)
    active = await rate(http, server, visitor.token, {"rating": 3})
    assert (active.status, active.error_code) == (409, "call_not_ended")
    assert await stored_rating(backend, visitor.call_id) is None
    assert (await adviser.call("call:end"))["ok"]
    await visitor.client.wait_for("call:ended")
    assert (await rate(http, server, visitor.token, {"rating": 3})).status == 200


# Wrong types are refused, not coerced: "4", 4.0 and true are not a number of stars.
BAD_RATINGS: list[Any] = [
    {"rating": 0},
    {"rating": 6},
    {"rating": -1},
    {"rating": 100_000},
    {"rating": "4"},
    {"rating": 4.5},
    {"rating": 4.0},
    {"rating": True},
    {"rating": None},
    {"rating": [4]},
    {},
    {"rating": 4, "comment": "great"},
    [4],
    "4",
]


async def test_a_rating_outside_one_to_five_or_not_an_integer_is_refused(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    visitor = await ended_call(server, world, clients)
    for payload in BAD_RATINGS:
        refused = await rate(http, server, visitor.token, payload)
        assert (refused.status, refused.error_code) == (422, "invalid_input"), (payload, refused.body)
    assert await stored_rating(backend, visitor.call_id) is None


async def test_broken_bodies_and_missing_or_wrong_tokens_are_4xx_never_500(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    visitor = await ended_call(server, world, clients)
    for raw in (b"", b"{", b"\xff\xfe", b"null", b'{"rating": 1e400}'):
        broken = await rate(http, server, visitor.token, None, raw=raw)
        assert (broken.status, broken.error_code) == (422, "invalid_input"), (raw, broken.body)
    async with http.put(
        base_url(server) + RATING,
        data="rating=4",
        headers={
            "Authorization": f"Bearer {visitor.token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as response:
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "unsupported_media_type"

    staff_token = (await login(base_url(server), (await world.add_user("admin"))[0]))["access_token"]
    for token, code in [
        (None, "unauthenticated"),
        ("", "unauthenticated"),
        ("not-a-token", "invalid_token"),
        (visitor.token[:-4] + "AAAA", "invalid_token"),
        (staff_token, "invalid_token"),  # a staff token is not a visitor token
    ]:
        refused = await rate(http, server, token, {"rating": 4})
        assert (refused.status, refused.error_code) == (401, code), (token, refused.body)
    assert await stored_rating(backend, visitor.call_id) is None


async def test_another_visitor_cannot_rate_someone_elses_call(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    mine = await ended_call(server, world, clients)
    assert (await rate(http, server, mine.token, {"rating": 5})).status == 200

    # The call is named by the token alone: a stranger's token reaches only the stranger's call.
    stranger = await a_visitor(server, world, clients)
    nothing = await rate(http, server, stranger.token, {"rating": 1})
    assert (nothing.status, nothing.error_code) == (404, "call_not_found")
    theirs = await ended_call(server, world, clients)
    assert (await rate(http, server, theirs.token, {"rating": 1})).status == 200
    assert await stored_rating(backend, mine.call_id) == 5
    assert await stored_rating(backend, theirs.call_id) == 1

    # Nor does a visitor of another organisation.
    other = await make_world(backend)
    outsider = await a_visitor(server, other, clients)
    assert (await rate(http, server, outsider.token, {"rating": 1})).error_code == "call_not_found"
    assert await stored_rating(backend, mine.call_id) == 5


async def test_only_the_widgets_own_origins_may_rate_from_a_browser(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    visitor = await ended_call(server, world, clients)
    elsewhere = await rate(http, server, visitor.token, {"rating": 2}, origin="https://evil.example")
    assert (elsewhere.status, elsewhere.error_code) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    assert await stored_rating(backend, visitor.call_id) is None

    headers = {
        "Origin": world.origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with http.options(base_url(server) + RATING, headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == world.origin
        assert "PUT" in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
    async with http.options(
        base_url(server) + RATING, headers={**headers, "Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403


async def test_ratings_per_visitor_are_rate_limited(
    server, world: World, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    visitor = await ended_call(server, world, clients)
    left = 60 - time.time() % 60  # the limit is 20 per fixed minute: stay inside one
    if left < 5:
        await asyncio.sleep(left + 0.05)
    statuses = [(await rate(http, server, visitor.token, {"rating": 3})).status for _ in range(21)]
    assert statuses == [200] * 20 + [429]


async def test_the_database_itself_refuses_a_rating_outside_one_to_five(
    server, world: World, backend: Backend, clients: list[Client]
) -> None:
    visitor = await ended_call(server, world, clients)
    engine = create_engine(backend.database_url)
    try:
        for stars in (0, 6):
            async with create_session_factory(engine)() as db:
                with pytest.raises(IntegrityError):
                    await db.execute(
                        update(Call).where(Call.id == uuid.UUID(visitor.call_id)).values(rating=stars)
                    )
                    await db.commit()
    finally:
        await engine.dispose()


async def test_the_statistics_count_a_rating_given_through_the_widget(
    server, world: World, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    rated = await ended_call(server, world, clients)
    unrated = await ended_call(server, world, clients)
    assert (await rate(http, server, rated.token, {"rating": 4})).status == 200
    assert (await rate(http, server, rated.token, {"rating": 3})).status == 200  # changed: counted once
    assert unrated.call_id

    supervisor = await as_staff(base_url(server), world, "supervisor")
    stats = (await supervisor.get("/statistics", days="1")).body
    today = stats["per_day"][-1]
    assert (today["answered"], today["ratings"], today["average_rating"]) == (2, 1, 3.0)
    assert (stats["totals"]["ratings"], stats["totals"]["average_rating"]) == (1, 3.0)
