"""What ``loket`` writes to disk is the owner's only: the SQLite database (and its WAL files), the
development master key and the directories they are in (issue 12, "at rest")."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

LOKET = Path(sys.executable).with_name("loket")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_key_and_spool_directories_are_created_owner_only(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LOKET_")}
    environment["LOKET_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'loket.db'}"
    before = os.umask(0o022)  # a usual umask, which the child inherits: loket must not rely on it
    try:
        result = subprocess.run(
            [str(LOKET), "org", "create", "Garage"],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.umask(before)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert mode(data) == 0o700
    files = [path for path in data.iterdir() if path.is_file()]
    assert {path.name for path in files} >= {"loket.db", "master.key"}
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
