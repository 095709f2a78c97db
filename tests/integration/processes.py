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
from typing import IO, Any

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
    return media_node_ready(spawn_media_node(node_id, env, log_path))


@dataclass
class Starting:
    """A process spawned and not yet ready: a deployment spawns all of its processes first and then
    waits for each, so that their start-ups (mostly imports) overlap."""

    name: str
    process: subprocess.Popen[Any]
    log: Path
    log_file: IO[str]
    url: str = ""

    def give_up(self, why: str) -> AssertionError:
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log_file.close()
        return AssertionError(f"{self.name} {why}: {self.log.read_text()}")


def spawn_media_node(node_id: str, env: dict[str, str], log_path: Path) -> Starting:
    log = log_path.open("w")
    process = subprocess.Popen(
        [LOKET, "media"], env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=log_path.parent
    )
    return Starting(node_id, process, log_path, log)


def media_node_ready(starting: Starting) -> NodeProcess:
    """The spawned node, once it printed its ready line (it is registered then)."""
    assert starting.process.stdout is not None
    line = starting.process.stdout.readline()  # blocks until the node is registered (or died)
    if " ready at " not in line:
        raise starting.give_up(f"(loket media) did not start: {line!r}")
    return NodeProcess(starting.name, starting.process, line.split()[-1], starting.log, starting.log_file)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Serve = tuple[subprocess.Popen[bytes], str, IO[str]]


def start_serve(env: dict[str, str], log_path: Path, *args: str) -> Serve:
    """``loket serve --no-worker`` on a free port with ``args``; its URL once it is ready."""
    return serve_ready(spawn_serve(env, log_path, *args))


def spawn_serve(env: dict[str, str], log_path: Path, *args: str) -> Starting:
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [LOKET, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=log_path.parent,
    )
    return Starting("loket serve", process, log_path, log, f"http://127.0.0.1:{port}")


# A start-up is mostly imports: several seconds of CPU each, more when several processes start at once
# on a loaded machine. Past this, something is wrong with the process, not the machine.
READY_SECONDS = 60


def serve_ready(starting: Starting) -> Serve:
    """The spawned ``loket serve``, once its ``/readyz`` answers 200."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if starting.process.poll() is not None:
            raise starting.give_up("exited")
        try:
            with urllib.request.urlopen(f"{starting.url}/readyz", timeout=1) as response:  # noqa: S310 - local test URL
                if response.status == 200:
                    return starting.process, starting.url, starting.log_file
        except OSError:
            time.sleep(0.2)
    raise starting.give_up(f"at {starting.url} did not become ready in {READY_SECONDS} s")
