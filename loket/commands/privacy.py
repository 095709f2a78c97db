"""``loket privacy replay|seal-text``: erasures that must survive a database restore, and
sealing the call text an older version stored in clear."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import click

from db import create_engine, create_session_factory, migrate
from loket.commands._common import CLI_ACTOR, _ensure_sqlite_dir, _guarded, _is_sqlite, _settings
from privacy import Replay, SealedText, replay_erasures, seal_plaintext
from recordings import storage_from_config


@click.group("privacy")
def privacy_group() -> None:
    """Privacy: erasures that must survive a database restore."""


def _since(_ctx: Any, _param: Any, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("an ISO time, like 2026-12-01T03:00:00Z") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@privacy_group.command("replay")
@click.option("--since", required=True, callback=_since, help="ISO time of the restored backup.")
def privacy_replay(since: datetime) -> None:
    """After restoring a database backup: erase again every call the ledger in storage says was
    erased since TIME (privacy.ledger)."""
    settings = _settings()

    async def replay() -> Replay:
        if _is_sqlite(settings.database_url):
            _ensure_sqlite_dir(settings.database_url)
            await migrate.upgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        recordings = settings.recordings()
        storage = storage_from_config(recordings)
        try:
            sessions = create_session_factory(engine, keys=settings.installation_keys)
            return await replay_erasures(sessions, storage, since=since, spool_dir=recordings.spool_dir)
        finally:
            await storage.stop()
            await engine.dispose()

    done = _guarded(lambda: asyncio.run(replay()))
    click.echo(
        f"replayed {done.receipts} erasure receipts since {since.isoformat()}: "
        f"{done.erased_again} calls erased again, {done.already_gone} already gone"
    )


@privacy_group.command("seal-text")
def privacy_seal_text() -> None:
    """Once, after upgrading: seal the chat lines and transcripts an older version stored in
    clear with their call's data key, so that shredding covers them (privacy.text_sealing)."""
    settings = _settings()

    async def seal() -> SealedText:
        engine = create_engine(settings.database_url)
        try:
            sessions = create_session_factory(engine, keys=settings.installation_keys)
            return await seal_plaintext(sessions, actor=CLI_ACTOR)
        finally:
            await engine.dispose()

    done = _guarded(lambda: asyncio.run(seal()))
    click.echo(f"sealed {done.chat_messages} chat lines and {done.transcripts} transcripts")
    if done.skipped:
        click.echo(
            f"skipped {done.skipped} rows whose call's data key no configured master key unwraps "
            "(they were wrapped under another master key; nothing was changed in them)",
            err=True,
        )
