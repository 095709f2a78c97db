"""`loket worker` as an operator runs it: it starts every job and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LOKET = str(Path(sys.executable).with_name("loket"))


def test_the_worker_runs_its_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    env["LOKET_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'loket.db'}"
    subprocess.run([LOKET, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        command = [LOKET, "worker"]
        worker = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "worker running" not in log_path.read_text():
                assert worker.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    printed = log_path.read_text()
    started = printed.split("worker running: ", 1)[1].splitlines()[0]
    jobs = ("access-log purge", "recording uploads", "retention sweep", "privacy requests", "transcription")
    for job in jobs:
        assert job in started, started
    assert "worker stopped" in printed
    assert "Traceback" not in printed, printed
