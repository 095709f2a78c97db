"""The ``loket`` command. Creating commands print the new id or key on stdout's last line
and exit non-zero with a one-line message on stderr when something is wrong.

The sub-commands live in ``loket.commands``, one module per group; this module is the group
they hang from (the ``loket`` entry point)."""

from __future__ import annotations

import os

import click

from loket.commands import audit, directory, privacy, processes, transcribe
from loket.logs import configure_logging


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Loket: self-hosted video assistance."""
    # Everything this process creates (the SQLite database, spool files, the development master
    # key, the local recordings store) is the owner's only: 0600 files, 0700 directories.
    os.umask(0o077)
    configure_logging(verbose=verbose)


for command in (
    processes.serve,
    processes.worker,
    processes.media,
    processes.db,
    directory.org,
    directory.user,
    directory.location,
    directory.queue,
    directory.widget_key,
    audit.audit_group,
    privacy.privacy_group,
    transcribe.transcribe,
):
    main.add_command(command)
