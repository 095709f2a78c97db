"""The private scratch folders where a transcription job keeps decrypted media while it works.

Each job gets a 0700 folder with a lock file it holds (``flock``) until the job ends; the kernel
lets go of the lock when the process dies, so the next ``run`` in that directory can tell the
folder of a killed worker (lock free) from a live job's, and removes it: decrypted visitor media
must not outlive the job that needed it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

SCRATCH_PREFIX = "loket-transcribe-"
# Held (flock) by the job using its scratch folder; the kernel lets go when the process dies.
_SCRATCH_LOCK = ".in-use"
_UNLOCKED_GRACE_SECONDS = 60.0


def make_scratch(root: Path | None) -> tuple[Path, int]:
    """A private (0700) folder for one job's decrypted media, and the descriptor holding its
    lock: nothing is written into it before the lock is taken. A configured root that does
    not exist yet is created (0700), as an operator would expect."""
    if root is not None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=root))
    lock = os.open(scratch / _SCRATCH_LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return scratch, lock


def remove_scratch(scratch: Path, lock: int) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    os.close(lock)


def remove_orphaned_scratch(root: Path | None) -> int:
    """Remove the scratch folders of jobs whose process died (killed, out of memory): their
    lock is free. Decrypted visitor media must not outlive the job that needed it."""
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            info = folder.lstat()
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            lock = os.open(folder / _SCRATCH_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            # No lock: a folder made this instant (no media yet), or one a cancelled job's
            # thread wrote into while it was being removed; only the latter is old.
            if time.time() - info.st_mtime > _UNLOCKED_GRACE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            continue  # a live job's
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)
        removed += 1
    return removed
