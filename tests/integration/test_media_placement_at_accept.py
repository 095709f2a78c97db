"""Accepting places the call's media: a signalling node that relays none (``--no-media``) and
finds no live media node refuses the accept with ``media_unavailable`` and leaves the call
ringing, so the visitor keeps waiting; once a node is up the same accept succeeds and the
call's media is on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from loket.app import create_app
from media.node import Registry
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor
from tests.media.nodes import SECRET, StartNode

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["services"], indirect=True)]


@pytest.fixture
async def signalling_only(backend: Backend) -> AsyncIterator[TestServer]:
    settings = backend.settings(ring_timeout_seconds=30.0, media_secret=SECRET)
    server = TestServer(create_app(settings, run_worker=False, run_media=False), host="127.0.0.1")
    await server.start_server(shutdown_timeout=5.0)
    yield server
    await server.close()


async def test_accept_without_a_media_node_is_refused_and_the_visitor_keeps_waiting(
    signalling_only: TestServer,
    world: World,
    clients: list[Client],
    start_node: StartNode,
    media_registry: Registry,
) -> None:
    url = base_url(signalling_only)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")

    refused = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert refused["error"]["code"] == "media_unavailable", refused
    state = await visitor.call("session:resume", {"last_seq": 0})
    assert state["call"]["status"] == "ringing", state
    assert not [event for event, _ in visitor.events if event in ("call:accepted", "call:ended")]
    assert await media_registry.owner(joined["call_id"]) is None

    await start_node("node-a")
    accepted = await adviser.call("call:accept", {"call_id": joined["call_id"]})
    assert accepted["ok"], accepted
    await visitor.wait_for("call:accepted")
    assert await media_registry.owner(joined["call_id"]) == "node-a"
