"""A change that cannot have its organisation's lock in time is answered ``busy`` (try again),
never with a 500, and leaves nothing half done."""

from __future__ import annotations

import pytest

from api.keys import STORE
from signaling.store import keys
from tests.conftest import Client, World, base_url, connect_visitor


@pytest.mark.server_settings(lock_timeout_seconds=0.3)
async def test_a_join_while_the_organisation_is_locked_too_long_is_told_busy(
    server, world: World, clients: list[Client]
) -> None:
    url = base_url(server)
    visitor = await connect_visitor(url, world, clients)
    store = server.app[STORE]
    # Another node (or a stalled task) holds the organisation's lock past the wait.
    async with store.lock(keys.org_lock(str(world.org_id)), timeout=5):
        ack = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert ack["ok"] is False
    assert ack["error"]["code"] == "busy"
    assert "again" in ack["error"]["message"]
    # Nothing of the refused join stayed: the same visitor joins once the lock is free.
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    assert joined["ok"], joined
    assert joined["position"] == 1
