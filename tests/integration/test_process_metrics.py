"""``loket worker`` and ``loket media`` as real processes serve their own /metrics on
``LOKET_METRICS_PORT`` and, with ``LOKET_LOG_FORMAT=json``, log JSON lines naming their node."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from media.node import ClusterConfig
from tests.integration.processes import LOKET, free_port, loket_env, media_node_env, start_media_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def scrape_until(port: int, sample: str, labels: dict[str, str], seconds: float = 30) -> dict[str, float]:
    """The process's samples by name (summed over labels) and ``family:NAME`` for each family,
    once ``sample`` with ``labels`` is there (>= 1)."""
    deadline = time.monotonic() + seconds
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            time.sleep(0.3)
            continue
        seen = {}
        found = False
        for family in text_string_to_metric_families(text):
            seen.setdefault(f"family:{family.name}", 1.0)
            for item in family.samples:
                seen[item.name] = seen.get(item.name, 0.0) + item.value
                if item.name == sample and all(item.labels.get(k) == v for k, v in labels.items()):
                    found = found or item.value >= 1
        if found:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"no {sample} {labels} on port {port}; families: {sorted(seen)}")


def json_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_a_worker_process_serves_its_job_metrics_and_logs_json(
    media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **loket_env(media_cluster, postgres_url, tmp_path),
        "LOKET_METRICS_PORT": str(port),
        "LOKET_LOG_FORMAT": "json",
        "LOKET_ACCESS_LOG_PURGE_EVERY_SECONDS": "0.2",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [LOKET, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        try:
            seen = scrape_until(
                port, "loket_worker_job_runs_total", {"job": "access-log purge", "result": "ok"}
            )
        finally:
            process.terminate()
            process.wait(timeout=20)
    for family in ("loket_jobs", "loket_jobs_oldest_pending_seconds", "loket_recordings_spool_backlog"):
        assert f"family:{family}" in seen, family
    assert "family:loket_media_calls" not in seen and "family:loket_http_requests" not in seen
    lines = json_lines(log)
    assert any(str(line["message"]).startswith("worker running") for line in lines), log.read_text()
    assert all(line["process"] == "worker" and line["node"] for line in lines)


def test_a_media_node_process_serves_its_media_and_upload_metrics(
    media_cluster: ClusterConfig, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **media_node_env("media-metrics", media_cluster, postgres_url, tmp_path),
        "LOKET_METRICS_PORT": str(port),
        "LOKET_LOG_FORMAT": "json",
    }
    node = start_media_node("media-metrics", env, tmp_path / "media.log")
    try:
        job = "media node media-metrics uploads"
        seen = scrape_until(port, "loket_worker_job_runs_total", {"job": job, "result": "ok"})
    finally:
        node.close()
    assert "family:loket_media_calls" in seen and "family:loket_media_legs" in seen
    assert seen["loket_media_calls"] == 0
    assert seen["loket_metrics_source_up"] == 1
    lines = json_lines(tmp_path / "media.log")
    assert lines and all(line["process"] == "media" and line["node"] == "media-metrics" for line in lines)
