"""Fault tests: real ``loket`` processes (``tests.integration.deployment``) on a Redis of the
test's own (``services.OwnRedis``), so a test can kill it; the shared Redis is never touched."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.services import OwnRedis
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    deploy,
    media_cluster,
    media_config,
    new_client,
    new_peer,
)
from tests.recordings.conftest import bucket, s3, s3_endpoint  # noqa: F401 (fixtures)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(own_redis: OwnRedis) -> str:
    """Every process of a fault test uses the test's own Redis."""
    return own_redis.url
