"""What every sub-command shares: the settings (a one-line error when they are wrong), a
database session (the embedded database upgraded first), and the failures an operator can fix
turned into a one-line message on stderr."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from db import LoketError, create_engine, create_session_factory, migrate
from loket.logs import configure_logging
from loket.settings import Settings

T = TypeVar("T")
CLI_ACTOR = "cli"


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = (f"LOKET_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise click.ClickException("; ".join(problems)) from exc
    except LoketError as exc:
        raise click.ClickException(str(exc)) from exc


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if _is_sqlite(url) and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


async def _with_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    if _is_sqlite(settings.database_url):
        _ensure_sqlite_dir(settings.database_url)
        await migrate.upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        # The keys on first use: a development master key is made then, and a database that
        # cannot be reached or is not upgraded stays the one thing the command says.
        async with create_session_factory(engine, keys=settings.installation_keys)() as db:
            result = await work(db)
            await db.commit()
            return result
    finally:
        await engine.dispose()


def _first_line(error: BaseException | None) -> str:
    lines = str(error or "").strip().splitlines()
    return lines[0] if lines else error.__class__.__name__


def _guarded(call: Callable[[], T]) -> T:
    """Run ``call``, turning the failures an operator can fix into a one-line message."""
    try:
        return call()
    except LoketError as exc:
        raise click.ClickException(exc.message) from exc
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"database error ({_first_line(exc.orig)}); is it reachable and upgraded (`loket db upgrade`)?"
        ) from exc
    except DBAPIError as exc:
        raise click.ClickException(f"database error: {_first_line(exc.orig)}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from exc


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = _settings()
    return _guarded(lambda: asyncio.run(_with_db(settings, work)))


def _uuid(_ctx: Any, _param: Any, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an id") from exc


def _log_as(settings: Settings, process: str) -> None:
    """Switch to JSON lines when LOKET_LOG_FORMAT=json (loket.logs), naming this node."""
    if settings.log_format == "json":
        node = settings.media_node_id or socket.gethostname().split(".")[0]
        verbose = logging.getLogger().level <= logging.DEBUG
        configure_logging(verbose=verbose, log_format="json", node=node, process=process)
