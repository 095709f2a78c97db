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


def test_kill_a_node_says_it_needs_media_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--spawn", "--kill-a-node"]) == 2
    assert "needs media nodes" in capsys.readouterr().out


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
