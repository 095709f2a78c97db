"""Creating what an installation is made of: organisations, staff, locations, queues and widget
keys (``loket org|user|location|queue|widget-key ...``); each prints the new id or key."""

from __future__ import annotations

import sys
import uuid

import click
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import directory, locations, queries, two_factor
from accounts.models import RecordingPolicy, Role
from db import LoketError
from loket.commands._common import CLI_ACTOR, _run, _uuid


@click.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.argument("name")
def org_create(name: str) -> None:
    """Create an organisation; prints its id."""
    created = _run(lambda db: directory.create_org(db, name=name, actor=CLI_ACTOR))
    click.echo(created.id)


@click.group()
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


@click.group()
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


@click.group()
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


@click.group("widget-key")
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
