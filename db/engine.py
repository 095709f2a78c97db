"""Async engine and session factory; created by the shell and passed down."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db.keys import KeysOrLoader, session_info

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers run beside the writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _create_private(database: str | None) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does (it would follow the umask).

    Its ``-wal`` and ``-shm`` files copy the database file's mode (SQLite's unix VFS), so they
    are owner-only too. An existing file is left as it is.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def create_session_factory(engine: AsyncEngine, *, keys: KeysOrLoader | None = None) -> SessionFactory:
    """Sessions on ``engine``; ``keys`` (or a function making them on first use) travel in each
    session's ``info`` for the audit chain's HMAC and the other keys at rest (``db.keys``)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=session_info(keys))


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
