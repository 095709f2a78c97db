"""The recordings table as the migration builds it is the one the model describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import signaling.models  # noqa: F401  (the calls table the foreign key points at)
from db import Base, create_engine
from db.migrate import alembic_config


def _mentions_recordings(diff: Any) -> bool:
    return "recordings" in repr(diff)


async def test_the_migrated_recordings_table_matches_the_model(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diffs = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
            foreign_keys = await connection.run_sync(
                lambda sync: inspect(sync).get_foreign_keys("recordings")
            )
    finally:
        await engine.dispose()
    assert [diff for diff in diffs if _mentions_recordings(diff)] == []
    assert [(fk["referred_table"], fk["options"].get("ondelete")) for fk in foreign_keys] == [
        ("calls", "CASCADE")
    ]


def test_the_recordings_migration_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    config = alembic_config(f"sqlite+aiosqlite:///{tmp_path / 'loket.db'}")
    command.upgrade(config, "0002")
    command.downgrade(config, "0001")
    command.upgrade(config, "0002")
