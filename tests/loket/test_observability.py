"""Observability: /metrics on its own port (never on the public app), the call lifecycle in the
metrics and in JSON log lines without personal data, the worker's job runs, and the Grafana
dashboard's metrics existing in a running app's /metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from loket.app import METRICS_SERVER, create_app
from loket.logs import JsonFormatter, scrub
from loket.observability import WorkerMetrics
from loket.worker import Job, JobContext, JobRunner
from tests.conftest import Backend, Client, World, base_url, connect_adviser, connect_visitor
from tests.loket.observing import Start, scrape, start, value

__all__ = ["start"]

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "loket.json"

# -- where /metrics is served ----------------------------------------------------------------


async def test_the_public_app_serves_no_metrics_and_the_internal_port_does(start: Start) -> None:
    server = await start()
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url(server) + "/metrics") as response:
            assert response.status == 404
        for _ in range(2):
            async with http.get(base_url(server) + "/healthz") as response:
                assert response.status == 200
    internal = server.app[METRICS_SERVER].url
    assert internal.startswith("http://127.0.0.1:") and f":{server.port}/" not in internal
    families = await scrape(server)
    assert value(families, "loket_http_requests_total", method="GET", status="200") == 2
    assert value(families, "loket_http_requests_total", status="404") == 1
    assert value(families, "loket_metrics_source_up", source="queues") == 1
    assert value(families, "loket_metrics_source_up", source="jobs") == 1


async def test_without_a_metrics_port_nothing_serves_metrics(backend: Backend) -> None:
    app = create_app(backend.settings(), run_worker=False)
    assert METRICS_SERVER not in app


# -- the call lifecycle: metrics and JSON log lines -------------------------------------------


@pytest.fixture
def json_log() -> Any:
    """Every log line of the test, as the JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(node="node-test", process="serve"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_call_lifecycle_is_counted_per_queue_and_logged_without_personal_data(
    start: Start, world: World, clients: list[Client], json_log: io.StringIO
) -> None:
    server = await start(ring_timeout_seconds=30.0)
    url, queue = base_url(server), str(world.queue_id)
    adviser = await connect_adviser(url, (await world.add_user())[0], clients)
    visitor = await connect_visitor(url, world, clients)
    joined = await visitor.call("queue:join", {"queue_id": queue})
    await adviser.wait_for("call:incoming")

    families = await scrape(server)
    assert value(families, "loket_calls_joined_total", queue=queue) == 1
    assert value(families, "loket_queue_calls", queue=queue, state="ringing") == 1
    assert value(families, "loket_queue_calls", queue=queue, state="waiting") == 0
    assert value(families, "loket_advisers", presence="available", activity="ringing") == 1
    assert value(families, "loket_queue_info", queue=queue, queue_name="Sales") == 1
    assert value(families, "loket_queue_oldest_wait_seconds", queue=queue) >= 0

    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    families = await scrape(server)
    assert value(families, "loket_calls_answered_total", queue=queue) == 1
    assert value(families, "loket_call_wait_seconds_count", queue=queue, outcome="answered") == 1
    assert value(families, "loket_queue_calls", queue=queue, state="active") == 1
    assert value(families, "loket_advisers", presence="available", activity="busy") == 1

    assert (await visitor.call("call:end"))["ok"]
    await adviser.wait_for("call:ended")
    # A second visitor gives up while waiting (nobody is available now? the adviser is: so
    # it rings; leaving while ringing is abandoning all the same).
    second = await connect_visitor(url, world, clients)
    abandoned = await second.call("queue:join", {"queue_id": queue})
    assert (await second.call("queue:leave"))["ok"]
    families = await scrape(server)
    assert value(families, "loket_calls_ended_total", queue=queue, reason="visitor_ended") == 1
    assert value(families, "loket_call_duration_seconds_count", queue=queue) == 1
    assert value(families, "loket_calls_abandoned_total", queue=queue) == 1
    assert value(families, "loket_call_wait_seconds_count", queue=queue, outcome="abandoned") == 1
    assert value(families, "loket_queue_calls", queue=queue, state="active") == 0

    output = json_log.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    lifecycle = [(line["event"], line["call_id"]) for line in lines if line["logger"] == "signaling.metrics"]
    first, second_id = joined["call_id"], abandoned["call_id"]
    assert lifecycle == [
        ("call.joined", first),
        ("call.answered", first),
        ("call.ended", first),
        ("call.joined", second_id),
        ("call.abandoned", second_id),
    ]
    for line in lines:
        assert line["node"] == "node-test" and line["process"] == "serve"
        assert {"ts", "level", "logger", "message", "event", "call_id"} <= set(line)
    ended = next(line for line in lines if line["event"] == "call.ended")
    assert ended["queue_id"] == queue and ended["reason"] == "visitor_ended"
    assert isinstance(ended["duration_seconds"], float)
    # No reference, no address, no e-mail, in any line of the whole lifecycle.
    for secret in (joined["reference"], abandoned["reference"], "127.0.0.1", "@example.test"):
        assert secret not in output, secret


def test_the_json_formatter_scrubs_addresses_references_and_emails_whoever_logs_them() -> None:
    formatter = JsonFormatter(node="n1", process="worker")
    message = (
        "call 0c6f6f53-5a43-4f7e-9d5e-2f1f3c4b5a69 from 203.0.113.9:5000 and 2001:db8::1 "
        "ref 7K3QZ-A9M2X by a@b.example"
    )
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, message, None, None)
    record.peer = "198.51.100.7"
    line = json.loads(formatter.format(record))
    assert line["call_id"] == "0c6f6f53-5a43-4f7e-9d5e-2f1f3c4b5a69"
    assert line["peer"] == "[ip]"
    assert "203.0.113.9" not in line["message"] and "2001:db8::1" not in line["message"]
    assert "7K3QZ-A9M2X" not in line["message"] and "a@b.example" not in line["message"]
    assert line["message"].count("[ip]") == 2 and "[reference]" in line["message"]
    # Ids, times and figures survive.
    assert scrub("took 12:30:45 and 3.5 s, id 5f0e") == "took 12:30:45 and 3.5 s, id 5f0e"


# -- the worker's job runs ---------------------------------------------------------------------


async def test_the_worker_counts_each_job_run_by_result_and_time() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    runs = {"ok": 0, "failing": 0}
    enough = asyncio.Event()

    async def fine(_ctx: JobContext) -> int:
        runs["ok"] += 1
        if min(runs.values()) >= 3:
            enough.set()
        return 0

    async def failing(_ctx: JobContext) -> int:
        runs["failing"] += 1
        if min(runs.values()) >= 3:
            enough.set()
        raise RuntimeError("storage down")

    runner = JobRunner(
        [Job("fine", every=0.01, timeout=1, run=fine), Job("failing", every=0.01, timeout=1, run=failing)],
        context=JobContext(),
        retry_base_seconds=0.01,
        retry_max_seconds=0.01,
        metrics=metrics,
    )
    logging.getLogger("loket.worker").disabled = True
    try:
        await runner.start()
        await asyncio.wait_for(enough.wait(), 5)
        await runner.stop()
    finally:
        logging.getLogger("loket.worker").disabled = False
    assert (
        registry.get_sample_value("loket_worker_job_runs_total", {"job": "fine", "result": "ok"})
        == runs["ok"]
    )
    assert (
        registry.get_sample_value("loket_worker_job_runs_total", {"job": "failing", "result": "failed"})
        == runs["failing"]
    )
    assert registry.get_sample_value("loket_worker_job_run_seconds_count", {"job": "fine"}) == runs["ok"]


# -- the Grafana dashboard ---------------------------------------------------------------------


def dashboard_metrics() -> set[str]:
    """Every metric family a panel of deploy/grafana/loket.json queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    names = {name for expr in exprs for name in re.findall(r"\bloket_[a-z0-9_]+", expr)}
    return {re.sub(r"_(total|bucket|count|sum|created)$", "", name) for name in names}


async def test_every_metric_of_the_grafana_dashboard_exists_in_the_running_apps_metrics(
    start: Start,
) -> None:
    used = dashboard_metrics()
    assert len(used) >= 25, used
    # The embedded app runs everything in one process: signalling, media and the worker.
    server = await start(run_worker=True, transcription_enabled=False)
    families = await scrape(server)
    assert used - set(families) == set(), "the dashboard queries metrics the app does not serve"
