"""What a media node's spool holds outlives the node, and never outlives an erasure. Real
processes: ``loket serve --no-media`` and ``loket media`` nodes on PostgreSQL and Redis.

- With a shared spool (``LOKET_MEDIA_SHARED_SPOOL``), the files of a node SIGKILLed while
  recording are stored by the live node (``loket.spool_adoption``), the dead one never back.
- Erasing a call whose recordings are still spooled on a node (not uploaded: here the node's
  storage is unreachable) crypto-shreds them at once and leaves their rows for the node, whose
  upload loop deletes the files; the erasure run again then completes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from db import create_engine, create_session_factory
from privacy import CallErasure, erase_call_data
from recordings import RecordingStatus
from recordings.storage import LocalStorage
from tests.conftest import Client
from tests.integration.deployment import (
    Deploy,
    Deployment,
    PlacedCall,
    both_receiving,
    owner,
    recordings_of,
    renegotiate,
    start_call,
    stored_recordings,
)
from tests.media.conftest import eventually
from tests.signaling.conftest import Peer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def record(call: PlacedCall, seconds: float) -> None:
    consented = await call.visitor.client.call(
        "consent:set", {"recording": True, "text_id": "recording-v1", "language": "nl"}
    )
    assert consented["ok"], consented
    assert (await call.adviser.client.call("recording:start"))["ok"]
    await asyncio.sleep(seconds)


def spool_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


async def test_a_dead_nodes_recording_is_stored_by_a_live_node_when_the_spool_is_shared(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer], tmp_path: Path
) -> None:
    shared = tmp_path / "shared-spool"
    deployment = await deploy(2, media_env={"LOKET_MEDIA_SHARED_SPOOL": str(shared)})
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)
    await record(call, 3)

    dead = await owner(deployment.cluster, call.call_id)
    assert dead in deployment.media
    assert [p.suffix for p in spool_files(shared / dead)] == [".webm", ".webm"]
    deployment.media[dead].kill()
    for side in call.sides:
        await side.client.wait_for("media:renegotiate", timeout=10)
    fresh = await renegotiate(call.sides, new_peer)
    await eventually(lambda: all(s.peer.receiving("audio", "video") for s in fresh), timeout=10)
    await asyncio.sleep(2)
    assert (await call.adviser.client.call("recording:stop"))["ok"]

    # The dead node never comes back: the live one stores its two files, then deletes them.
    rows = await stored_recordings(deployment, call.call_id, 4, timeout=40)
    live = next(node for node in deployment.media if node != dead)
    by_node = sorted((row.spool_node, row.participant) for row in rows)
    assert by_node == sorted([(dead, "adviser"), (dead, "visitor"), (live, "adviser"), (live, "visitor")])
    for row in rows:
        assert row.bytes and row.bytes > 1000 and row.spool_path is None, (row.spool_node, row.bytes)
        assert (deployment.data_dir / "recordings" / row.storage_key).stat().st_size == row.bytes
    assert spool_files(shared / dead) == []
    assert "stored 2 recordings of dead node " + dead in deployment.media[live].log.read_text()


async def test_erasing_a_call_spooled_on_a_node_has_the_node_delete_its_files_and_then_completes(
    deploy: Deploy, clients: list[Client], new_peer: Callable[[], Peer], tmp_path: Path
) -> None:
    # The node cannot store (its storage is under a file, not a directory): files stay spooled.
    deployment = await deploy(1, media_env={"LOKET_STORAGE_URL": "file:///dev/null/recordings"})
    call = await start_call(deployment, clients, new_peer)
    await eventually(lambda: both_receiving(call), timeout=15)
    await record(call, 2)
    assert (await call.adviser.client.call("recording:stop"))["ok"]
    assert (await call.visitor.client.call("call:end"))["ok"]
    spool = deployment.data_dir / "media-a" / "spool"
    rows = await recordings_of(deployment, call.call_id)
    waiting = {RecordingStatus.SPOOLED, RecordingStatus.UPLOADING}  # failing, tried again
    assert {row.status for row in rows} <= waiting and len(rows) == 2, [row.status for row in rows]
    # The recordings (and, after a failed attempt, their encrypted twins).
    assert [p.suffix for p in spool_files(spool / call.call_id)].count(".webm") == 2

    # Shredded at once (a row the node holds for an upload attempt, once the attempt failed),
    # but the rows stay until the node has deleted its files.
    deadline = time.monotonic() + 20
    erased_rows = 0
    while True:
        erased = await erase(deployment, call.call_id, tmp_path)
        erased_rows += erased.recordings
        assert not erased.complete and not erased.call_deleted, erased
        rows = await recordings_of(deployment, call.call_id)
        if {(row.status, row.wrapped_key) for row in rows} == {(RecordingStatus.SHREDDED, None)}:
            break
        assert time.monotonic() < deadline, [(row.status, row.claimed_by) for row in rows]
        await asyncio.sleep(0.5)

    deadline = time.monotonic() + 20
    while spool_files(spool / call.call_id) or any(row.spool_path for row in rows):
        assert time.monotonic() < deadline, (spool_files(spool), [(r.status, r.spool_path) for r in rows])
        await asyncio.sleep(0.5)
        rows = await recordings_of(deployment, call.call_id)

    erased = await erase(deployment, call.call_id, tmp_path)
    assert erased.complete and erased.call_deleted and erased_rows + erased.recordings == 2, erased
    assert await recordings_of(deployment, call.call_id) == []


async def erase(deployment: Deployment, call_id: str, tmp_path: Path) -> CallErasure:
    engine = create_engine(deployment.world.backend.database_url)
    try:
        return await erase_call_data(
            create_session_factory(engine),
            LocalStorage(tmp_path / "recordings"),
            uuid.UUID(call_id),
            "test erasure",
            actor="test",
            worker_id="test-eraser",
        )
    finally:
        await engine.dispose()
