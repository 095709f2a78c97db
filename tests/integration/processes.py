"""Loket's own processes for integration tests: ``loket media`` nodes and ``loket serve``
signalling nodes on one PostgreSQL and Redis, each logging to a file a failure can show."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from media.node import ClusterConfig

LOKET = str(Path(sys.executable).with_name("loket"))
# One master key for every process of a test, so what a node stores any process can read.
MASTER_KEY = "bWVkaWEtbm9kZS10ZXN0cy1tYXN0ZXIta2V5LTAxMjM="
SECRET_KEY = "media-node-tests-signing-key-that-is-long-enough-0123"


@dataclass
class NodeProcess:
    """A ``loket media`` process, registered (it printed its ready line)."""

    node_id: str
    process: subprocess.Popen[str]
    url: str
    log: Path
    log_file: IO[str]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log_file.close()


def loket_env(cluster: ClusterConfig, database_url: str, data_dir: Path) -> dict[str, str]:
    """What every process of one deployment shares: database, Redis, secrets, storage."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOKET_")},
        "LOKET_DATABASE_URL": database_url,
        "LOKET_REDIS_URL": cluster.redis_url,
        "LOKET_REDIS_PREFIX": cluster.redis_prefix,
        "LOKET_SECRET_KEY": SECRET_KEY,
        "LOKET_MEDIA_SECRET": cluster.secret,
        "LOKET_STORAGE_URL": f"file://{data_dir / 'recordings'}",
        "LOKET_MASTER_KEY": MASTER_KEY,
        "LOKET_UPLOADS_EVERY_SECONDS": "1",
        "LOKET_TRANSCRIPTION_ENABLED": "false",
    }


def media_node_env(node_id: str, cluster: ClusterConfig, database_url: str, data_dir: Path) -> dict[str, str]:
    """A ``loket media`` process's environment: the deployment's, its id and its own spool."""
    return {
        **loket_env(cluster, database_url, data_dir),
        "LOKET_MEDIA_NODE_ID": node_id,
        "LOKET_SPOOL_DIR": str(data_dir / node_id / "spool"),
    }


def start_media_node(node_id: str, env: dict[str, str], log_path: Path) -> NodeProcess:
    """``loket media`` with ``env``; returns once it is registered (its ready line)."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [LOKET, "media"], env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=log_path.parent
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the node is registered (or died)
    if " ready at " not in line:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        log.close()
        raise AssertionError(f"loket media did not start: {line!r} {log_path.read_text()}")
    return NodeProcess(node_id=node_id, process=process, url=line.split()[-1], log=log_path, log_file=log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Serve = tuple[subprocess.Popen[bytes], str, IO[str]]


def start_serve(env: dict[str, str], log_path: Path, *args: str) -> Serve:
    """``loket serve --no-worker`` on a free port with ``args``; its URL once it is ready."""
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [LOKET, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=log_path.parent,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise AssertionError(f"loket serve exited: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310 - local test URL
                if response.status == 200:
                    return process, url, log
        except OSError:
            time.sleep(0.2)
    process.kill()
    process.wait(timeout=10)
    log.close()
    raise AssertionError(f"{url} did not become ready: {log_path.read_text()}")
