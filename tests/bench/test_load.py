"""``python -m bench.load``: its last line, its refusals, and one short run against a deployment it
spawns itself (embedded: SQLite and in-memory state, so no service is needed)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from bench.load import deployment
from bench.load.calls import client_address
from bench.load.cli import main
from bench.load.deployment import Deployment, DeploymentError, require_media_command
from bench.load.failover import FailoverResult
from bench.load.report import StepResult, percentile, table

LAST_LINE = re.compile(
    r"^calls=(?P<calls>\d+) delivered_pct=(?P<delivered>[\d.]+) loss_pct=(?P<loss>[\d.]+) "
    r"join_to_media_p95_ms=(?P<join>\d+) server_core_per_call=(?P<server>[\d.]+|na) "
    r"client_core_per_call=(?P<client>[\d.]+) media_nodes=(?P<nodes>\d+|na)$"
)


def result(**changes: object) -> StepResult:
    values: dict[str, object] = {
        "calls": 10,
        "failed": 0,
        "seconds": 30.0,
        "delivered_pct": 99.5,
        "loss_pct": 0.02,
        "join_to_media_p95_ms": 812.4,
        "server_core_per_call": 0.0581,
        "client_core_per_call": 0.012,
        "client_lag_p95_ms": 3.0,
        "media_nodes": 0,
        "load_average": 1.5,
    }
    values.update(changes)
    return StepResult(**values)  # type: ignore[arg-type]


def test_the_last_line_has_the_fields_scripts_rely_on_in_order() -> None:
    line = result().summary()
    assert line == (
        "calls=10 delivered_pct=99.50 loss_pct=0.02 join_to_media_p95_ms=812 "
        "server_core_per_call=0.0581 client_core_per_call=0.0120 media_nodes=0"
    )
    assert LAST_LINE.match(line)
    # Against a URL the tool knows neither the server's CPU nor its media nodes.
    assert LAST_LINE.match(result(server_core_per_call=None, media_nodes=None).summary())


def test_the_steps_table_has_a_row_per_step() -> None:
    rows = table([result(calls=n) for n in (10, 20, 30, 40)]).splitlines()
    assert len(rows) == 5 and rows[0].split()[0] == "calls"
    assert [row.split()[0] for row in rows[1:]] == ["10", "20", "30", "40"]


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 95))


def test_each_client_has_an_address_of_its_own_in_the_benchmarking_range() -> None:
    addresses = {client_address(role, step, i) for role in (0, 1) for step in (0, 1) for i in range(300)}
    assert len(addresses) == 2 * 2 * 300
    assert all(a.startswith(("198.18.", "198.19.")) for a in addresses)  # RFC 2544


def test_kill_a_node_needs_a_spawned_deployment_with_two_media_nodes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for refused in (["--spawn"], ["--spawn", "--media-nodes", "1"], ["--url", "http://127.0.0.1:1"]):
        assert main([*refused, "--kill-a-node"]) == 2
        assert "needs --spawn and --media-nodes 2 or more" in capsys.readouterr().out


def test_the_failover_line_gives_p50_and_max_of_media_back_per_moved_call() -> None:
    line = FailoverResult("load-media-1", 4, 3, (2.9, 3.1, 4.2), 0).summary()
    assert line == (
        "failover killed=load-media-1 calls_moved=3/4 not_recovered=0 media_back_p50_s=3.10 "
        "media_back_max_s=4.20 goal_s=10 others_told=0"
    )
    assert "not_recovered=2" in FailoverResult("load-media-0", 2, 2, (), 0).summary()


def test_media_nodes_need_the_loket_media_command_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployment, "_loket_command", lambda: [sys.executable, "-c", "raise SystemExit(2)"])
    with pytest.raises(DeploymentError, match="`loket media` does not exist yet"):
        require_media_command()
    with pytest.raises(DeploymentError, match="need Redis"):
        Deployment(advisers=1, media_nodes=1, backend="embedded")


@pytest.mark.timeout(120)
def test_two_calls_against_a_spawned_embedded_server_deliver_their_media() -> None:
    arguments = ["--spawn", "--backend", "embedded", "--calls", "2", "--seconds", "3", "--ramp", "0.2"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", *arguments],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = LAST_LINE.match(done.stdout.strip().splitlines()[-1])
    assert last is not None, done.stdout
    assert last["calls"] == "2" and last["nodes"] == "0"
    assert float(last["delivered"]) >= 90 and float(last["loss"]) <= 5
    assert float(last["server"]) > 0 and float(last["client"]) > 0
    assert 0 < int(last["join"]) < 30_000


FAILOVER_LINE = re.compile(
    r"^failover killed=(?P<node>load-media-\d) calls_moved=(?P<moved>\d+)/(?P<calls>\d+) "
    r"not_recovered=(?P<lost>\d+) media_back_p50_s=(?P<p50>[\d.]+) media_back_max_s=(?P<max>[\d.]+) "
    r"goal_s=10 others_told=(?P<others>\d+)$"
)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_kill_a_node_moves_the_calls_of_the_killed_node_and_prints_when_their_media_came_back(
    postgres_url: str, redis_url: str
) -> None:
    arguments = ["--spawn", "--media-nodes", "2", "--calls", "2", "--seconds", "3", "--ramp", "0.2"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", *arguments, "--kill-a-node"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    failover = FAILOVER_LINE.match(lines[-1])
    assert failover is not None, done.stdout
    # Two calls on two nodes: the node killed held at least one; only its calls were told.
    assert failover["calls"] == "2" and int(failover["moved"]) >= 1, lines[-1]
    assert failover["lost"] == "0" and failover["others"] == "0", lines[-1]
    assert 0 < float(failover["p50"]) <= float(failover["max"]) <= 30, lines[-1]
    after = next(line for line in lines if line.startswith("after the failover: "))
    assert LAST_LINE.match(after.removeprefix("after the failover: ").rsplit(" failed=", 1)[0]), after
