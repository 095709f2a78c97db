"""``/readyz`` names each dependency and answers 503 when one is down, against real stopped
dependencies: Redis and an S3 server on closed ports, and a Redis with no live media node."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db import SessionFactory
from loket.readiness import READINESS, Readiness, readyz
from media.node import ClusterConfig, Registry
from media.node.registry import NodeInfo
from recordings import LocalStorage, RecordingsConfig, Storage, storage_from_config
from signaling.store import MemoryStore, RealtimeStore, RedisStore

SECRET = "test-media-secret-that-is-long-enough-0123456789"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def answer(readiness: Readiness) -> tuple[int, dict[str, Any]]:
    """GET /readyz of an app holding only ``readiness`` (the real handler and checks)."""
    app = web.Application()
    app[READINESS] = readiness
    app.router.add_get("/readyz", readyz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(str(server.make_url("/readyz"))) as response:
            return response.status, await response.json()
    finally:
        await server.close()
        await readiness.stop()


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return LocalStorage(tmp_path / "recordings")


async def test_all_dependencies_up_is_ready(sessions: SessionFactory, storage: Storage) -> None:
    status, body = await answer(Readiness(sessions=sessions, store=MemoryStore(), storage=storage))
    assert (status, body) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "realtime": "ok", "storage": "ok", "media": "ok"}},
    )


async def test_redis_down_is_503_naming_the_realtime_store_and_the_media_registry(
    sessions: SessionFactory, storage: Storage
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    store: RealtimeStore = RedisStore(url, prefix="loket-readyz:")
    readiness = Readiness(
        sessions=sessions, store=store, storage=storage, media_cluster=ClusterConfig(url, SECRET)
    )
    started = time.monotonic()
    status, body = await answer(readiness)
    assert time.monotonic() - started < 5
    assert status == 503, body
    assert body["checks"] == {
        "database": "ok",
        "realtime": "unreachable",
        "storage": "ok",
        "media": "unreachable",
    }
    assert body["error"] == {
        "code": "not_ready",
        "message": "not ready: realtime unreachable, media unreachable",
    }
    assert "127.0.0.1" not in str(body)
    await store.stop()


async def test_an_s3_server_that_is_down_is_503_naming_storage(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    config = RecordingsConfig(
        master_key=secrets.token_bytes(32),
        storage_url="s3://loket-recordings/prefix",
        s3_endpoint_url=f"http://127.0.0.1:{closed_port()}",
        s3_region="eu-west-1",
        spool_dir=tmp_path / "spool",
    )
    storage = storage_from_config(config)
    status, body = await answer(
        Readiness(sessions=sessions, store=MemoryStore(), storage=storage, check_seconds=1.0)
    )
    await storage.stop()
    assert status == 503, body
    assert body["checks"]["storage"] in ("unreachable", "timeout")
    assert {key: value for key, value in body["checks"].items() if key != "storage"} == {
        "database": "ok",
        "realtime": "ok",
        "media": "ok",
    }


@pytest.fixture
async def cluster(redis_url: str, redis_prefix: str) -> AsyncIterator[ClusterConfig]:
    yield ClusterConfig(redis_url, SECRET, redis_prefix=redis_prefix)


async def test_media_nodes_none_alive_is_503_and_one_alive_is_ready(
    sessions: SessionFactory, storage: Storage, cluster: ClusterConfig
) -> None:
    status, body = await answer(
        Readiness(sessions=sessions, store=MemoryStore(), storage=storage, media_cluster=cluster)
    )
    assert status == 503, body
    assert body["checks"]["media"] == "no_live_node"

    registry = Registry(cluster)
    await registry.start()
    try:
        await registry.heartbeat(NodeInfo("node-a", "http://127.0.0.1:1", heartbeat_at=time.time()), [])
        status, body = await answer(
            Readiness(sessions=sessions, store=MemoryStore(), storage=storage, media_cluster=cluster)
        )
        assert status == 200, body
        assert body["checks"]["media"] == "ok"
    finally:
        await registry.withdraw("node-a")
        await registry.stop()
