"""Migrations run from empty on SQLite and PostgreSQL, and leave exactly the schema the models declare."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from db import Base, create_engine, create_session_factory, migrate
from db.audit import GENESIS_HASH, AuditHead
from loket.app import create_app
from tests.conftest import Backend

# Every domain's tables live in its models.py; import each that exists so none escapes the check.
MODEL_MODULES = ("signaling.models", "media.models", "recordings.models", "transcription.models")
ISSUE_TABLES = {
    "organisations",
    "locations",
    "users",
    "queues",
    "widget_keys",
    "calls",
    "consents",
    "audit_events",
    "access_log",
}


def register_every_model() -> list[str]:
    found = [name for name in MODEL_MODULES if importlib.util.find_spec(name) is not None]
    for name in found:
        importlib.import_module(name)
    return found


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_creates_every_table_and_the_audit_genesis(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    assert await tables(empty_url) >= ISSUE_TABLES
    engine = create_engine(empty_url)
    try:
        async with create_session_factory(engine)() as db:
            head = await db.scalar(select(AuditHead))
            version = await db.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert head is not None and (head.id, head.seq, head.hash) == (1, 0, GENESIS_HASH)
    assert version is not None


async def test_the_migrated_schema_matches_the_models_exactly(empty_url: str) -> None:
    assert "signaling.models" in register_every_model()
    assert set(Base.metadata.tables) >= ISSUE_TABLES
    await migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(schema_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_upgrading_twice_is_a_no_op(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    before = await tables(empty_url)
    await migrate.upgrade(empty_url)
    assert await tables(empty_url) == before


async def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_it(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    migrated = await tables(empty_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(empty_url), "base")
    assert await tables(empty_url) == {"alembic_version"}
    await migrate.upgrade(empty_url)
    assert await tables(empty_url) == migrated


async def test_the_app_upgrades_a_new_embedded_database_by_itself(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'not-yet' / 'loket.db'}"
    test_server = TestServer(
        create_app(Backend("embedded", url, tmp_path).settings(), run_worker=False), host="127.0.0.1"
    )
    await test_server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(str(test_server.make_url("/readyz"))) as response,
        ):
            assert response.status == 200, await response.text()
    finally:
        await test_server.close()
    assert await tables(url) >= ISSUE_TABLES
