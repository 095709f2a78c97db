"""``loket audit verify|anchor``: the audit chain."""

from __future__ import annotations

import click

from db import audit
from loket.commands._common import CLI_ACTOR, _run


@click.group("audit")
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
