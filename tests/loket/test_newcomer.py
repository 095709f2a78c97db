"""What a newcomer does after cloning: start the demo server, pair two clients with examples/pair.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.integration.test_two_nodes import free_port

ROOT = Path(__file__).resolve().parents[2]
LOKET = str(Path(sys.executable).with_name("loket"))


def test_the_demo_server_and_the_example_client_pair_within_a_second(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [LOKET, "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(f"http://127.0.0.1:{port}", server)
            printed = log_path.read_text()
            queue = re.search(r"queue:\s+(\S+)", printed)
            key = re.search(r"widget key:\s+(\S+)", printed)
            password = re.search(r"adviser@demo\.loket\.test\s+password: (\S+)", printed)
            assert queue and key and password, printed
            done = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "examples" / "pair.py"),
                    "--url",
                    f"http://127.0.0.1:{port}",
                    "--origin",
                    f"http://127.0.0.1:{port}",
                    "--queue",
                    queue[1],
                    "--key",
                    key[1],
                    "--password",
                    password[1],
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert done.returncode == 0, done.stderr
            assert "talking to Sanne" in done.stdout
            elapsed = float(re.search(r"paired in ([\d.]+) s", done.stdout)[1])  # type: ignore[index]
            assert elapsed < 1.0
            assert "'reference'" in done.stdout
            # Requests are logged only to the access-log table the worker purges, never to the
            # process's output, where IPs and URLs would outlive the retention promise.
            assert "POST /api/v1/widget/sessions" not in log_path.read_text()
        finally:
            server.terminate()
            server.wait(timeout=15)
    # The demo data is created once: a second start reuses it and prints the same key.
    assert (tmp_path / "data" / "demo.json").exists()


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310 - local URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the demo server did not become ready")
