"""Decrypted copies on disk: the private folders an export is built in and a recording is
played back from, and their removal.

Plaintext only ever exists in such a folder under the spool directory (which holds plaintext
anyway, before encryption), made fresh and private (``tempfile.mkdtemp``: mode 0700) for one
use and removed right after, even when the task using it is cancelled. A process killed in
between leaves its folder behind: the worker removes folders older than ``STALE_PLAINTEXT``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from recordings.config import RecordingsConfig


def plaintext_dir(config: RecordingsConfig, *, prefix: str = ".export-") -> Path:
    """A fresh private folder for plaintext (blocking): under the spool, which holds plaintext anyway."""
    config.spool_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=config.spool_dir))


# Decrypted copies live seconds to minutes; one this old was left by a process that died.
STALE_PLAINTEXT = timedelta(hours=1)
PLAINTEXT_PREFIXES = (".export-", ".playback-")


def remove_stale_plaintext(config: RecordingsConfig, *, now: float | None = None) -> int:
    """Remove ``plaintext_dir`` folders a killed process left behind (blocking); how many."""
    if not config.spool_dir.is_dir():
        return 0
    cutoff = (now if now is not None else time.time()) - STALE_PLAINTEXT.total_seconds()
    removed = 0
    for folder in config.spool_dir.iterdir():
        if folder.name.startswith(PLAINTEXT_PREFIXES) and folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


async def remove_plaintext(folder: Path) -> None:
    """Remove a ``plaintext_dir`` folder in a thread, and finish the job on the loop if the task
    is cancelled meanwhile (a client that went away is cancelled, sometimes twice, by aiohttp;
    a worker stopping is cancelled): a cancelled ``to_thread`` may never run at all, and a
    decrypted copy must not outlive its use."""
    try:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    except asyncio.CancelledError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
