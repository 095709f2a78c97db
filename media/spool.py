"""Spool keys: where a recording is written, named relative to the media process's spool directory.

A media node spools on its own disk, so whoever starts a recording names the files by *key*
(``{call_id}/{party}-{hex}.webm``), never by a path of its own machine; the process that
records resolves the key under its spool directory. A key is a relative POSIX path without
``..``, so it can never point outside that directory, whoever sends it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from media.errors import SpoolPathError

_MAX_KEY_LENGTH = 512


def check_spool_key(key: str | PurePosixPath | Path) -> PurePosixPath:
    """``key`` as a relative path of plain names; :class:`SpoolPathError` otherwise."""
    text = str(key)
    if not text or len(text) > _MAX_KEY_LENGTH or "\\" in text or "\x00" in text:
        raise SpoolPathError("a spool key is a relative path of plain names")
    path = PurePosixPath(text)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts) or text.endswith("/"):
        raise SpoolPathError("a spool key is a relative path of plain names")
    return path


def spool_file(spool_dir: Path, key: str | PurePosixPath | Path) -> Path:
    """The file of ``key`` under ``spool_dir`` (which a symlink cannot leave either)."""
    relative = check_spool_key(key)
    root = spool_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise SpoolPathError("the spool key leads outside the spool directory")
    return path
