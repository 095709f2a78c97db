"""The real ``loket`` console script in a subprocess, on a SQLite file and on a fresh PostgreSQL database.

The contract scripts rely on: a created id or key on stdout's last line; on error a non-zero exit
and one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organisation, Queue, User, WidgetKey
from accounts.passwords import verify_password
from db import create_engine, create_session_factory, migrate
from db.audit import AuditEvent, AuditHead
from db.keys import InstallationKeys
from privacy import call_data_key, open_segments, open_text
from signaling.models import Call, ChatMessage
from tests.conftest import service_missing
from tests.db.conftest import create_postgres_database, drop_postgres_database
from transcription.models import Transcript

T = TypeVar("T")
LOKET = Path(sys.executable).with_name("loket")
PASSWORD = "a perfectly long password"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Cli:
    """Runs ``loket`` against one database, from an empty working directory."""

    database_url: str
    cwd: Path

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        environment = {name: value for name, value in os.environ.items() if not name.startswith("LOKET_")}
        environment.update({"LOKET_DATABASE_URL": self.database_url, **env})
        return subprocess.run(
            [str(LOKET), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=environment,
            timeout=30,
            check=False,
        )

    def created(self, *args: str, stdin: str = "") -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()[-1]

    def query(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            engine = create_engine(self.database_url)
            try:
                async with create_session_factory(engine)() as db:
                    result = await work(db)
                    await db.commit()
                    return result
            finally:
                await engine.dispose()

        return asyncio.run(main())


def make_cli(kind: str, directory: Path) -> Iterator[Cli]:
    if kind == "sqlite":
        yield Cli(f"sqlite+aiosqlite:///{directory / 'state' / 'loket.db'}", directory)
        return
    url = asyncio.run(create_postgres_database())
    if url is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    cli = Cli(url, directory)
    upgraded = cli.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines()[-1] == "database is up to date"
    try:
        yield cli
    finally:
        asyncio.run(drop_postgres_database(url))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One database per kind for the module; tests use fresh names so they never collide."""
    yield from make_cli(request.param, tmp_path_factory.mktemp("cli"))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    """A database of this test's own (for tests that damage it)."""
    yield from make_cli(request.param, tmp_path)


@pytest.fixture(scope="module")
def org_id(cli: Cli) -> str:
    return cli.created("org", "create", "Garage Jansen")


def unique_email() -> str:
    return f"staff-{uuid.uuid4().hex[:10]}@garage.example"


def assert_one_line_error(result: subprocess.CompletedProcess[str], *mentions: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_org_create_prints_the_new_id_on_the_last_line(cli: Cli) -> None:
    result = cli.run("org", "create", "Autobedrijf De Vries")
    assert result.returncode == 0, result.stderr
    created = result.stdout.splitlines()[-1]
    assert UUID.match(created), result.stdout
    org = cli.query(lambda db: db.get(Organisation, uuid.UUID(created)))
    assert org is not None and org.name == "Autobedrijf De Vries"


def test_user_create_reads_the_password_from_stdin(cli: Cli, org_id: str) -> None:
    email = unique_email()
    result = cli.run(
        "user", "create", "--org", org_id, "--email", email, "--role", "adviser", "--password-stdin",
        "--language", "nl", "--language", "de",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user_id = result.stdout.splitlines()[-1]
    assert UUID.match(user_id)
    assert PASSWORD not in result.stdout + result.stderr
    user = cli.query(lambda db: db.get(User, uuid.UUID(user_id)))
    assert user is not None
    assert (user.email, user.role, str(user.org_id), user.languages) == (
        email,
        "adviser",
        org_id,
        ["nl", "de"],
    )
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
    assert asyncio.run(verify_password(user.password_hash, PASSWORD))
    assert not asyncio.run(verify_password(user.password_hash, PASSWORD + "\n"))


def test_queue_create_keeps_each_repeated_language(cli: Cli, org_id: str) -> None:
    queue_id = cli.created(
        "queue", "create", "--org", org_id, "--name", "Werkplaats", "--language", "nl", "--language", "EN"
    )
    assert UUID.match(queue_id)
    queue = cli.query(lambda db: db.get(Queue, uuid.UUID(queue_id)))
    assert queue is not None
    assert (queue.name, queue.languages, str(queue.org_id)) == ("Werkplaats", ["nl", "en"], org_id)


def test_widget_key_create_prints_the_key_for_every_origin(cli: Cli, org_id: str) -> None:
    key = cli.created(
        "widget-key", "create", "--org", org_id,
        "--origin", "https://Shop.Example/", "--origin", "https://www.shop.example:8443",
    )  # fmt: skip
    assert re.fullmatch(r"wk_[A-Za-z0-9_-]{32,}", key), key
    row = cli.query(lambda db: db.scalar(select(WidgetKey).where(WidgetKey.key == key)))
    assert row is not None and str(row.org_id) == org_id
    assert row.origins == ["https://shop.example", "https://www.shop.example:8443"]


@pytest.mark.parametrize(
    "case", ["unknown org", "bad email", "bad origin", "short password", "duplicate email", "bad language"]
)
def test_errors_exit_non_zero_with_one_line_and_no_traceback(cli: Cli, org_id: str, case: str) -> None:
    email = unique_email()
    if case == "duplicate email":
        cli.created(
            "user", "create", "--org", org_id, "--email", email, "--role", "admin", "--password-stdin",
            stdin=PASSWORD,
        )  # fmt: skip
    user = ("user", "create", "--org", org_id, "--email", email, "--role", "adviser", "--password-stdin")
    commands: dict[str, tuple[tuple[str, ...], str, str]] = {
        "unknown org": (
            ("queue", "create", "--org", str(uuid.uuid4()), "--name", "Q"),
            "",
            "no organisation",
        ),
        "bad email": ((*user[:5], "not-an-address", *user[6:]), PASSWORD, "e-mail"),
        "bad origin": (
            ("widget-key", "create", "--org", org_id, "--origin", "ftp://shop.example/x"),
            "",
            "origin",
        ),
        "short password": (user, "short", "12"),
        "duplicate email": (user, PASSWORD, "exists"),
        "bad language": (
            ("queue", "create", "--org", org_id, "--name", "Q", "--language", "dutch"),
            "",
            "dutch",
        ),
    }
    args, stdin, mention = commands[case]
    line = assert_one_line_error(cli.run(*args, stdin=stdin), mention)
    assert line.startswith("Error: ")


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    cli = Cli(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/loket", tmp_path)
    assert_one_line_error(cli.run("org", "create", "Garage"), "database")
    assert_one_line_error(cli.run("db", "upgrade"), "database")


def test_a_missing_postgresql_database_is_one_line(tmp_path: Path) -> None:
    url = asyncio.run(create_postgres_database())
    if url is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    asyncio.run(drop_postgres_database(str(url)))
    cli = Cli(str(url), tmp_path)
    assert_one_line_error(cli.run("org", "create", "Garage"), "does not exist")
    assert_one_line_error(cli.run("db", "upgrade"), "does not exist")


def test_a_never_upgraded_postgresql_database_points_at_db_upgrade(tmp_path: Path) -> None:
    url = asyncio.run(create_postgres_database())
    if url is None:
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    try:
        assert_one_line_error(Cli(url, tmp_path).run("org", "create", "Garage"), "`loket db upgrade`")
    finally:
        asyncio.run(drop_postgres_database(url))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOKET_DATABASE_URL", "not a url"),
        ("LOKET_DATABASE_URL", "mysql://loket@db/loket"),
        ("LOKET_DATABASE_URL", "postgresql://loket@db/loket"),
        ("LOKET_ENV", "staging"),
        ("LOKET_SECRET_KEY", "too-short"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    cli = Cli(f"sqlite+aiosqlite:///{tmp_path / 'loket.db'}", tmp_path)
    assert_one_line_error(cli.run("org", "create", "Garage", **{variable: value}), variable)
    assert not (tmp_path / "loket.db").exists()


def test_db_upgrade_creates_a_new_embedded_database_and_its_directory(tmp_path: Path) -> None:
    cli = Cli(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'dir' / 'loket.db'}", tmp_path)
    result = cli.run("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "database is up to date"
    with sqlite3.connect(tmp_path / "new" / "dir" / "loket.db") as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"organisations", "users", "audit_events", "access_log"} <= names


def test_serve_in_production_without_secrets_refuses_naming_them(tmp_path: Path) -> None:
    cli = Cli("postgresql+asyncpg://loket@db.invalid/loket", tmp_path)
    line = assert_one_line_error(cli.run("serve", LOKET_ENV="production", LOKET_SECRET_KEY="s" * 40))
    for name in ("LOKET_MASTER_KEY", "LOKET_PUBLIC_URL", "LOKET_TURN_SECRET"):
        assert name in line
    assert "LOKET_SECRET_KEY" not in line


def test_audit_anchor_anchors_the_events_from_before_the_upgrade_once(fresh_cli: Cli) -> None:
    fresh_cli.created("org", "create", "Garage")

    async def unanchor(db: AsyncSession) -> Any:  # as migration 0009 finds an older installation
        await db.execute(update(AuditEvent).values(anchor=None))
        return await db.execute(update(AuditHead).values(anchor=None))

    fresh_cli.query(unanchor)
    assert fresh_cli.run("audit", "verify").returncode == 1
    result = fresh_cli.run("audit", "anchor")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "anchored 1 events"
    assert fresh_cli.run("audit", "verify").stdout.splitlines()[-1] == "audit chain intact: 2 events"
    assert fresh_cli.run("audit", "anchor").stdout.splitlines()[-1] == "every event was anchored already"


def test_audit_verify_passes_then_names_the_tampered_seq(fresh_cli: Cli) -> None:
    org = fresh_cli.created("org", "create", "Garage")
    fresh_cli.created("queue", "create", "--org", org, "--name", "Sales")
    fresh_cli.created("widget-key", "create", "--org", org, "--origin", "https://shop.example")
    result = fresh_cli.run("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "audit chain intact: 3 events"

    async def tamper(db: AsyncSession) -> Any:
        return await db.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="user:mallory"))

    fresh_cli.query(tamper)
    result = fresh_cli.run("audit", "verify")
    assert result.returncode == 1
    line = assert_one_line_error(result, "event 2")
    assert re.search(r"\bevent 2\b", line) and "1 events good" in line


def test_privacy_seal_text_seals_what_an_older_version_stored_in_clear_once(fresh_cli: Cli) -> None:
    """Issue 12 item 8: ``loket privacy seal-text``, a process without signaling's models (as the
    worker), seals the chat and transcripts with their call's data key. One ``loket`` run: the
    steps of a run (batches, idempotence) are tested in tests/privacy/test_transcript_sealing.py."""
    org = uuid.uuid4()
    raw_key = os.urandom(32)
    master_key = base64.urlsafe_b64encode(raw_key).decode()
    call_id, line_id, transcript_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def as_before(db: AsyncSession) -> None:
        db.add(Organisation(id=org, name="Garage"))
        await db.flush()
        db.add(Call(id=call_id, org_id=org, reference=uuid.uuid4().hex[:12], visitor_id=uuid.uuid4().hex))
        await db.flush()
        db.add(ChatMessage(id=line_id, call_id=call_id, party="visitor", text="Mijn kenteken is AB-123-C"))
        db.add(
            Transcript(
                id=transcript_id, call_id=call_id, status="done", segments=[{"text": "Hoi"}], vtt="WEBVTT"
            )
        )

    if fresh_cli.database_url.startswith("sqlite"):  # PostgreSQL's is upgraded by the fixture
        (fresh_cli.cwd / "state").mkdir(exist_ok=True)
        migrate.upgrade_sync(fresh_cli.database_url)
    fresh_cli.query(as_before)
    result = fresh_cli.run("privacy", "seal-text", LOKET_MASTER_KEY=master_key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "sealed 1 chat lines and 1 transcripts"

    async def opened(db: AsyncSession) -> tuple[str, str, Any, Any]:
        line = await db.get(ChatMessage, line_id)
        transcript = await db.get(Transcript, transcript_id)
        assert line is not None and transcript is not None and transcript.vtt is not None
        key = await call_data_key(db, call_id, create=False)
        return (
            line.text,
            transcript.vtt,
            open_text(key, call_id, line_id, line.text),
            open_segments(key, call_id, transcript_id, transcript.segments),
        )

    async def with_keys() -> tuple[str, str, Any, Any]:
        engine = create_engine(fresh_cli.database_url)
        try:
            async with create_session_factory(engine, keys=InstallationKeys(raw_key))() as db:
                return await opened(db)
        finally:
            await engine.dispose()

    stored_line, stored_vtt, line, segments = asyncio.run(with_keys())
    assert stored_line.startswith("sealed:v1:") and stored_vtt.startswith("sealed:v1:")
    assert (line, segments) == ("Mijn kenteken is AB-123-C", [{"text": "Hoi"}])
