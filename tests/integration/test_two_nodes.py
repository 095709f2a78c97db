"""Two `loket serve` processes on one PostgreSQL and one Redis pair a visitor on node A with an
adviser on node B, set up with nothing but the CLI and the public contract."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PASSWORD, Client, login
from tests.integration.processes import READY_SECONDS

# Two processes and four CLI runs start here: seconds of imports each, more on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOKET = str(Path(sys.executable).with_name("loket"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        LOKET, *args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(None if stdin is None else stdin.encode()), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip().splitlines()[-1]


@pytest.fixture
def node_env(postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOKET_")},
        "LOKET_DATABASE_URL": postgres_url,
        "LOKET_REDIS_URL": redis_url,
        "LOKET_REDIS_PREFIX": redis_prefix,
        "LOKET_SECRET_KEY": "two-node-secret-key-that-is-long-enough-012345",
        "LOKET_MEDIA_SECRET": "two-node-media-secret-that-is-long-enough-0123",
        "LOKET_PUBLIC_URL": "http://loket.test",
    }


@pytest.fixture
def nodes(node_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    """Two server processes; their logs go to files so a failure can show them."""
    processes, urls, logs = [], [], []
    for name in ("a", "b"):
        port = free_port()
        log = (tmp_path / f"node-{name}.log").open("w")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [LOKET, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
                env={**node_env, "LOKET_MEDIA_NODE_ID": f"serve-{name}"},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            _wait_healthy(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        for log in logs:
            log.close()


def _wait_healthy(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310 - local test URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become ready")


async def test_a_visitor_on_node_a_pairs_with_an_adviser_on_node_b(
    nodes: list[str], node_env: dict[str, str]
) -> None:
    node_a, node_b = nodes
    org = await cli(node_env, "org", "create", "Two Node Garage")
    email = f"adviser-{time.time_ns()}@garage.test"
    # Independent of each other once the organisation exists: run at once, their start-ups overlap.
    queue, _, key = await asyncio.gather(
        cli(node_env, "queue", "create", "--org", org, "--name", "Sales", "--language", "nl"),
        cli(
            node_env,
            *("user", "create", "--org", org, "--email", email, "--role", "adviser", "--password-stdin"),
            stdin=PASSWORD + "\n",
        ),
        cli(node_env, "widget-key", "create", "--org", org, "--origin", "https://garage.test"),
    )

    adviser = Client("/adviser")
    visitor = Client("/visitor")
    try:
        tokens = await login(node_b, email)
        await adviser.connect(node_b, tokens["access_token"])
        assert (await adviser.call("session:resume", {"last_seq": 0}))["ok"]
        assert (await adviser.call("presence:set", {"status": "available"}))["ok"]

        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{node_a}/api/v1/widget/sessions",
                json={"widget_key": key},
                headers={"Origin": "https://garage.test"},
            ) as response,
        ):
            assert response.status == 200
            session = await response.json()
        await visitor.connect(node_a, session["visitor_token"])

        started = time.monotonic()
        joined = await visitor.call("queue:join", {"queue_id": queue, "language": "nl"})
        assert joined["ok"], joined
        await adviser.wait_for("call:incoming", call_id=joined["call_id"])
        assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
        await visitor.wait_for("call:accepted")
        paired_in = time.monotonic() - started
        assert paired_in < 1.0, f"pairing across nodes took {paired_in:.2f}s"

        assert (await adviser.call("call:end"))["ok"]
        ended = await visitor.wait_for("call:ended")
        assert ended["reference"] == joined["reference"]
    finally:
        await asyncio.gather(adviser.close(), visitor.close())
