"""The ``loket`` command. Creating commands print the new id or key on stdout's last line
and exit non-zero with a one-line message on stderr when something is wrong."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import directory, locations, queries, two_factor
from accounts.models import RecordingPolicy, Role
from db import LoketError, audit, create_engine, create_session_factory, migrate
from loket import production
from loket.logs import configure_logging
from loket.settings import Settings
from privacy import Replay, SealedText, replay_erasures, seal_plaintext
from recordings import storage_from_config

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


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Loket: self-hosted video assistance."""
    # Everything this process creates (the SQLite database, spool files, the development master
    # key, the local recordings store) is the owner's only: 0600 files, 0700 directories.
    os.umask(0o077)
    configure_logging(verbose=verbose)


def _log_as(settings: Settings, process: str) -> None:
    """Switch to JSON lines when LOKET_LOG_FORMAT=json (loket.logs), naming this node."""
    if settings.log_format == "json":
        node = settings.media_node_id or socket.gethostname().split(".")[0]
        verbose = logging.getLogger().level <= logging.DEBUG
        configure_logging(verbose=verbose, log_format="json", node=node, process=process)


# -- serve / worker / db ---------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Create (once) a demo organisation, staff and widget key.")
@click.option("--no-worker", is_flag=True, help="Do not run the worker in this process.")
@click.option(
    "--no-media",
    is_flag=True,
    help="Relay no media in this process: place calls on `loket media` nodes (needs LOKET_REDIS_URL).",
)
def serve(host: str, port: int, demo: bool, no_worker: bool, no_media: bool) -> None:
    """Run the server (REST API, socket.io, and the worker unless --no-worker)."""
    from aiohttp import web

    from loket.app import create_app
    from loket.demo import DemoSetup, add_demo_page, ensure_demo

    settings = _settings()
    _log_as(settings, "serve")
    refused = production.demo_refusal(demo=demo, production=settings.production)
    if refused:
        raise click.ClickException(refused)
    warning = production.bind_warning(host, production=settings.production)
    if warning:
        logging.getLogger("loket.serve").warning("%s", warning)
    public = settings.public_url or f"http://{host}:{port}"
    setup: DemoSetup | None = None
    if demo:
        try:
            setup = asyncio.run(_with_db(settings, lambda db: ensure_demo(db, public, Path("data"))))
        except LoketError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(setup.summary)
    try:
        app = create_app(settings, run_worker=not no_worker, run_media=not no_media)
    except LoketError as exc:
        raise click.ClickException(exc.message) from exc
    if setup is not None:
        add_demo_page(app, widget_dir=settings.widget_dir, public_url=public, widget_key=setup.widget_key)
    # access_log=None: aiohttp's own request log would keep IPs and URLs on stderr for ever; Loket's
    # access log (a table the worker purges after LOKET_ACCESS_LOG_DAYS) is the only one.
    web.run_app(app, host=host, port=port, print=click.echo, access_log=None)


@main.command()
def worker() -> None:
    """Run the background worker alone (production: one or more beside the signalling nodes)."""
    from loket.worker import run_worker

    settings = _settings()
    _log_as(settings, "worker")
    asyncio.run(run_worker(settings))


@main.command()
def media() -> None:
    """Run a media node: the media of the calls placed on it, and the uploads of its recordings.

    Needs LOKET_REDIS_URL, LOKET_MEDIA_SECRET (the same on every node) and the database and
    storage settings of the signalling nodes; its id is LOKET_MEDIA_NODE_ID (default: the host
    name). Stops cleanly on SIGTERM or SIGINT."""
    from loket.media_node import run_media_node

    settings = _settings()
    _log_as(settings, "media")
    try:
        settings.cluster()
        settings.media_node()
    except LoketError as exc:
        raise click.ClickException(exc.message) from exc
    _guarded(lambda: asyncio.run(run_media_node(settings)))


@main.group()
def db() -> None:
    """Database administration."""


@db.command()
def upgrade() -> None:
    """Upgrade the database schema to the newest version."""
    settings = _settings()

    def run() -> None:
        _ensure_sqlite_dir(settings.database_url)
        migrate.upgrade_sync(settings.database_url)

    _guarded(run)
    click.echo("database is up to date")


# -- organisations, users, queues, widget keys -----------------------------------------------


@main.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.argument("name")
def org_create(name: str) -> None:
    """Create an organisation; prints its id."""
    created = _run(lambda db: directory.create_org(db, name=name, actor=CLI_ACTOR))
    click.echo(created.id)


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--org", "org_id", required=True, callback=_uuid, help="Organisation id.")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@click.option("--name", "display_name", default=None, help="Name shown to visitors.")
@click.option("--language", "languages", multiple=True, help="Language the adviser speaks (repeat).")
@click.option(
    "--queue",
    "queue_ids",
    multiple=True,
    callback=lambda c, p, v: [_uuid(c, p, q) for q in v],
    help="Queue the adviser serves (repeat; none = every queue).",
)
@click.option(
    "--location",
    "location_id",
    default=None,
    callback=_uuid,
    help="Location whose address ranges the account may work from (none = anywhere).",
)
def user_create(
    org_id: uuid.UUID,
    email: str,
    role: str,
    password_stdin: bool,
    display_name: str | None,
    languages: tuple[str, ...],
    queue_ids: list[uuid.UUID],
    location_id: uuid.UUID | None,
) -> None:
    """Create a staff account; prints its id."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on stdin")
    created = _run(
        lambda db: directory.create_user(
            db,
            org_id=org_id,
            email=email,
            role=role,
            password=password,
            actor=CLI_ACTOR,
            display_name=display_name,
            languages=list(languages),
            queue_ids=queue_ids,
            location_id=location_id,
        )
    )
    click.echo(created.id)


@user.command("reset-two-factor")
@click.option("--email", required=True)
def user_reset_two_factor(email: str) -> None:
    """Remove a staff member's two-factor authentication (lost phone and recovery codes): they get
    one login without it, to enrol again. Prints their id."""

    async def reset(db: AsyncSession) -> uuid.UUID:
        found = await queries.user_by_email(db, email.strip().lower())
        if found is None:
            raise LoketError(f"no staff member with e-mail address {email}")
        await two_factor.reset(db, found, actor=CLI_ACTOR)
        return found.id

    click.echo(_run(reset))


@main.group()
def location() -> None:
    """Locations and the address ranges their staff may work from."""


@location.command("create")
@click.option("--org", "org_id", required=True, callback=_uuid, help="Organisation id.")
@click.option("--name", required=True)
@click.option(
    "--allow", "allowlist", multiple=True, help="Address range (CIDR) staff may work from (repeat)."
)
def location_create(org_id: uuid.UUID, name: str, allowlist: tuple[str, ...]) -> None:
    """Create a location; prints its id."""
    created = _run(
        lambda db: locations.create_location(
            db, org_id=org_id, name=name, allowlist=list(allowlist), actor=CLI_ACTOR
        )
    )
    click.echo(created.id)


@main.group()
def queue() -> None:
    """Queues visitors wait in."""


@queue.command("create")
@click.option("--org", "org_id", required=True, callback=_uuid, help="Organisation id.")
@click.option("--name", required=True)
@click.option("--language", "languages", multiple=True, help="Language served (repeat).")
@click.option(
    "--recording",
    type=click.Choice([p.value for p in RecordingPolicy]),
    default="off",
    show_default=True,
    help="off: never record; ask: record with the visitor's consent.",
)
@click.option("--timezone", default="Europe/Amsterdam", show_default=True)
def queue_create(
    org_id: uuid.UUID, name: str, languages: tuple[str, ...], recording: str, timezone: str
) -> None:
    """Create a queue; prints its id."""
    created = _run(
        lambda db: directory.create_queue(
            db,
            org_id=org_id,
            actor=CLI_ACTOR,
            name=name,
            languages=list(languages),
            recording_policy=recording,
            timezone=timezone,
        )
    )
    click.echo(created.id)


@main.group("widget-key")
def widget_key() -> None:
    """Public keys for the embed snippet."""


@widget_key.command("create")
@click.option("--org", "org_id", required=True, callback=_uuid, help="Organisation id.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="Website origin allowed to use the widget, e.g. https://shop.example (repeat).",
)
def widget_key_create(org_id: uuid.UUID, origins: tuple[str, ...]) -> None:
    """Create a widget key; prints the key."""
    created = _run(
        lambda db: directory.create_widget_key(db, org_id=org_id, origins=list(origins), actor=CLI_ACTOR)
    )
    click.echo(created.key)


# -- audit -----------------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exits 1 and names the first broken event if it was tampered with."""
    report = _run(audit.verify)
    if not report.ok:
        raise click.ClickException(
            f"audit chain broken at event {report.broken_at}: {report.reason} "
            f"({report.checked} events good before it)"
        )
    click.echo(f"audit chain intact: {report.checked} events")


@audit_group.command("anchor")
def audit_anchor() -> None:
    """Anchor (HMAC) the events written before this version, once, right after upgrading."""
    try:
        count = _run(lambda db: audit.anchor_old_events(db, actor=CLI_ACTOR))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"anchored {count} events" if count else "every event was anchored already")


# -- privacy ---------------------------------------------------------------------------------


@main.group("privacy")
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


# -- transcription ---------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format", "output_format", type=click.Choice(["json", "vtt"]), default="json", show_default=True
)
@click.option("--language", default=None, help="Language spoken: nl, de, fr, en, ... (default: detected).")
@click.option("--no-redact", is_flag=True, help="Keep phone numbers, e-mail addresses, IBANs and plates.")
@click.option(
    "--model",
    default=None,
    help="Model for every language: base, tiny.en, a name or a directory (default: LOKET_WHISPER_MODEL(S)).",
)
def transcribe(
    file: Path, output_format: str, language: str | None, no_redact: bool, model: str | None
) -> None:
    """Transcribe a local media file the way the worker does; prints the transcript."""
    import dataclasses
    import os

    # Models are never downloaded at run time; this keeps the Hugging Face client offline too.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transcription import WhisperEngine, to_json, to_vtt, transcribe_file

    if not file.exists():
        raise click.ClickException(f"no such file: {file}")
    if not file.is_file():
        raise click.ClickException(f"not a regular file: {file}")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # stderr is for the one-line error; progress notes only with --verbose.
        for name in ("faster_whisper", "transcription"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        config = _settings().whisper()
        if model:
            config = dataclasses.replace(config, models={"*": model})
        transcript = asyncio.run(
            transcribe_file(file, config, WhisperEngine(config), language=language, redact=not no_redact)
        )
    except LoketError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(to_json(transcript) if output_format == "json" else to_vtt(transcript), nl=False)
