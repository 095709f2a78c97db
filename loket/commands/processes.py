"""The long-running processes: ``loket serve``, ``loket worker``, ``loket media``, and the
schema upgrade they need first (``loket db upgrade``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from db import LoketError, migrate
from loket import production
from loket.commands._common import _ensure_sqlite_dir, _guarded, _log_as, _settings, _with_db


@click.command()
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


@click.command()
def worker() -> None:
    """Run the background worker alone (production: one or more beside the signalling nodes)."""
    from loket.worker import run_worker

    settings = _settings()
    _log_as(settings, "worker")
    asyncio.run(run_worker(settings))


@click.command()
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


@click.group()
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
