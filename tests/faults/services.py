"""Services a fault test may take away: its own ``redis-server`` and its own PostgreSQL cluster,
each in the test's tmp dir on a free port (the shared ones on 6379 and 5432 are never touched).

Both keep their data on disk across a stop, as a production deployment's do: Redis with an
append-only file fsynced on every write, PostgreSQL as it is."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.integration.processes import free_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# Every write on disk before it is acknowledged, so a SIGKILL loses nothing acknowledged.
DURABLE = ("--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no")


class OwnRedis:
    """A ``redis-server`` of one test; ``kill`` (SIGKILL) and ``start`` again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir), *DURABLE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class OwnPostgres:
    """A PostgreSQL 15 cluster of one test (``initdb`` in a tmp dir, trust auth, its own port
    and socket dir); ``stop`` and ``start`` again keep its data. PostgreSQL refuses to run as
    root: as root (a container) the cluster runs as the ``postgres`` user, in a directory of its
    own outside pytest's owner-only tmp dirs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.data_dir = Path(tempfile.mkdtemp(prefix="loket-faults-pg-"))
        if self.as_postgres:
            shutil.chown(self.data_dir, "postgres", "postgres")

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str | Path) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def init(self) -> None:
        self._run(POSTGRES_BIN / "initdb", "-D", self.data_dir / "data", "-U", "postgres", "-A", "trust")

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.data_dir / "pg.log"
        self._run(
            POSTGRES_BIN / "pg_ctl", "-D", self.data_dir / "data", "-l", log, "-o", options, "-w", *args
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")
