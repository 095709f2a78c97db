"""Fresh, empty databases for tests that migrate or damage them (the shared ones stay intact)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_DSN, _postgres_admin, service_missing


async def create_postgres_database() -> str | None:
    """A new empty PostgreSQL database's URL; None when PostgreSQL is not reachable."""
    name = f"loket_test_{secrets.token_hex(6)}"
    try:
        await _postgres_admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError):
        return None
    return POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def drop_postgres_database(url: str) -> None:
    await _postgres_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
async def postgres_empty_url() -> AsyncIterator[str]:
    url = await create_postgres_database()
    if url is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    assert url is not None
    yield url
    await drop_postgres_database(url)


@pytest.fixture
def sqlite_empty_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A new empty database of each kind, not yet migrated."""
    fixture = "sqlite_empty_url" if request.param == "sqlite" else "postgres_empty_url"
    url: str = request.getfixturevalue(fixture)
    return url
