"""Failover: a call outlives its media node. Real processes on one PostgreSQL and Redis: one
``loket serve --no-media`` and ``loket media`` nodes; two aiortc peers in a call; the call's node
is SIGKILLed mid-call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.conftest import Client
from tests.integration.deployment import (
    Deploy,
    both_receiving,
    chat_lines,
    owner,
    renegotiate,
    start_call,
    stored_recordings,
)
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_call_moves_to_another_media_node_when_its_node_is_killed(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(2)
    call = await start_call(deployment, clients, new_peer)
    visitor, adviser = call.sides
    await eventually(lambda: both_receiving(call), timeout=15)
    assert (await visitor.client.call("chat:send", {"text": "before"}))["ok"]
    await adviser.client.wait_for("chat:message")

    first = await owner(deployment.cluster, call.call_id)
    assert first in deployment.media
    killed_at = time.monotonic()
    deployment.media[first].kill()

    for side in call.sides:
        told = await side.client.wait_for("media:renegotiate", timeout=10)
        assert told["reason"] == "media_node_lost" and told["call_id"] == call.call_id
        assert isinstance(told["seq"], int)
    told_after = time.monotonic() - killed_at
    second = await owner(deployment.cluster, call.call_id)
    assert second in deployment.media and second != first

    fresh = await renegotiate(call.sides, new_peer)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in fresh), timeout=10)
    media_back_after = time.monotonic() - killed_at
    print(
        f"\nfailover: media:renegotiate {told_after:.2f} s, media flowing again "
        f"{media_back_after:.2f} s after SIGKILL of {first} (now on {second})"
    )
    assert media_back_after <= 10, media_back_after

    # The same call: same id and reference, chat goes on, history intact.
    assert (await adviser.client.call("chat:send", {"text": "after"}))["ok"]
    await visitor.client.wait_for("chat:message", text="after")
    assert await chat_lines(deployment, call.call_id) == ["before", "after"]
    assert not visitor.client.received("call:ended") and not adviser.client.received("call:ended")

    assert (await visitor.client.call("call:end"))["ok"]
    ended = await adviser.client.wait_for("call:ended")
    assert ended["call_id"] == call.call_id and ended["reference"] == call.reference


async def test_a_call_ends_with_media_unavailable_when_no_media_node_is_left(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(1)
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)

    deployment.media["media-a"].kill()
    for side in call.sides:
        ended = await side.client.wait_for("call:ended", timeout=10)
        assert ended["call_id"] == call.call_id and ended["reason"] == "media_unavailable"
    assert not call.visitor.client.received("media:renegotiate")


async def test_a_recording_in_progress_goes_on_in_a_new_file_and_both_files_are_stored(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer]
) -> None:
    deployment = await deploy(2)
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)
    consented = await call.visitor.client.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    assert (await call.adviser.client.call("recording:start"))["ok"]
    await asyncio.sleep(3)

    first = await owner(deployment.cluster, call.call_id)
    assert first is not None
    deployment.media[first].kill()
    for side in call.sides:
        await side.client.wait_for("media:renegotiate", timeout=10)
    fresh = await renegotiate(call.sides, new_peer)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in fresh), timeout=10)
    await asyncio.sleep(3)
    assert (await call.adviser.client.call("recording:stop"))["ok"]

    # The first files are in the dead node's spool: it uploads them when it starts again.
    deployment.restart_node(first)

    rows = await stored_recordings(deployment, call.call_id, 4)
    by_node: dict[str | None, list[str]] = {}
    for row in rows:
        by_node.setdefault(row.spool_node, []).append(row.participant)
        print(f"stored: {row.spool_node} {row.participant} {row.bytes} B, {row.duration_seconds} s")
    for row in rows:
        assert row.bytes and row.bytes > 1000, (row.spool_node, row.bytes)
    assert {node: sorted(parties) for node, parties in by_node.items()} == {
        first: ["adviser", "visitor"],
        next(n for n in deployment.media if n != first): ["adviser", "visitor"],
    }
