"""``python -m bench.soak`` and ``python -m bench.sockets`` at a tiny size against a server each
spawns (embedded: SQLite and in-memory state), checking that they work and that their figures
are sane; and the parts they are built from (socket.io framing, ``seq`` gaps, the last lines)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench.light_socket import _split, gaps
from bench.soak import SoakResult
from bench.sockets import SocketsResult

SOAK_LINE = re.compile(
    r"^soak visitors=(?P<visitors>\d+) calls=(?P<calls>\d+) minutes=(?P<minutes>[\d.]+) "
    r"lost_events=(?P<lost>\d+) dropped_calls=(?P<dropped>\d+) failed=(?P<failed>\d+) "
    r"events=(?P<events>\d+) rss_growth_pct=(?P<growth>-?[\d.]+) loop_lag_p99_ms=(?P<lag>[\d.]+) "
    r"client_lag_p99_ms=(?P<client_lag>[\d.]+) client_cores=(?P<client>[\d.]+) goal=(?P<goal>met|missed)$"
)
SOCKETS_LINE = re.compile(
    r"^sockets visitors=(?P<visitors>\d+) connected=(?P<connected>\d+) kb_per_socket=(?P<kb>-?[\d.]+) "
    r"join_ack_p50_ms=(?P<p50>[\d.]+) join_ack_p99_ms=(?P<p99>[\d.]+) join_to_ring_p99_ms=(?P<ring>[\d.]+) "
    r"joins=(?P<joins>\d+) unrung=(?P<unrung>\d+) failed=(?P<failed>\d+) starved=(?P<starved>\d+) "
    r"server_loop_lag_p99_ms=(?P<lag>[\d.]+) server_cores=(?P<server>[\d.]+) client_cores=(?P<client>[\d.]+) "
    r"goal_kb=40 goal_p99_ms=50 goal=(?P<goal>met|missed)$"
)


def test_socketio_packets_split_into_type_namespace_ack_id_and_body() -> None:
    assert _split('3/visitor,12[{"ok":true}]') == ("3", "/visitor", "12", '[{"ok":true}]')
    assert _split('2/adviser,["call:incoming",{"seq":4}]') == (
        "2",
        "/adviser",
        "",
        '["call:incoming",{"seq":4}]',
    )
    assert _split('0/visitor,{"sid":"x"}') == ("0", "/visitor", "", '{"sid":"x"}')
    assert _split("1") == ("1", "/", "", "")


def test_lost_events_are_the_gaps_in_a_sessions_seq_numbers() -> None:
    assert gaps([]) == 0
    assert gaps([1, 2, 3]) == 0
    assert gaps([3, 1, 2, 2]) == 0  # a replay may repeat or reorder: not a loss
    assert gaps([1, 2, 5, 6]) == 2


def test_the_goals_decide_met_or_missed() -> None:
    soak = SoakResult(visitors=2, calls=1, minutes=1, rss={"serve": (100 * 2**20, 104 * 2**20)})
    assert soak.goal_met() and soak.summary().endswith("goal=met")
    soak.rss["serve"] = (100 * 2**20, 106 * 2**20)  # 6 % growth
    assert not soak.goal_met()
    fast = SocketsResult(visitors=1, kb_per_socket=34.0, join_ack_s=[0.01] * 10, join_to_ring_s=[0.02] * 10)
    assert fast.goal_met()
    fast.join_to_ring_s.append(0.5)  # the p99 of 11 samples is the slowest
    assert not fast.goal_met()


def _run(module: str, *arguments: str) -> tuple[list[str], str]:
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments], capture_output=True, text=True, timeout=170, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines(), done.stdout + done.stderr


@pytest.mark.timeout(180)
def test_a_tiny_soak_loses_no_event_and_drops_no_call() -> None:
    lines, output = _run(
        "bench.soak", "--backend", "embedded", "--visitors", "20", "--calls", "1",
        "--minutes", "0.1", "--warmup", "1", "--churn", "2",
    )  # fmt: skip
    last = SOAK_LINE.match(lines[-1])
    assert last is not None, output
    assert (last["visitors"], last["calls"], last["lost"], last["dropped"], last["failed"]) == (
        "20", "1", "0", "0", "0"
    ), output  # fmt: skip
    # Visitors were replaced for 6 s, so those behind moved up and were told (queue:position).
    assert int(last["events"]) > 20, output
    assert abs(float(last["growth"])) < 50 and 0 <= float(last["lag"]) < 5000, output
    assert any(re.match(r"^rss serve=[\d.]+->[\d.]+ MiB", line) for line in lines), output


@pytest.mark.timeout(180)
def test_tiny_socket_run_measures_memory_per_socket_and_join_latency() -> None:
    lines, output = _run(
        "bench.sockets", "--visitors", "40", "--advisers", "2", "--rate", "10", "--seconds", "2",
    )  # fmt: skip
    last = SOCKETS_LINE.match(lines[-1])
    assert last is not None, output
    assert (last["visitors"], last["connected"], last["joins"], last["unrung"], last["failed"]) == (
        "40", "40", "20", "0", "0"
    ), output  # fmt: skip
    # 40 sockets are too few for a fair figure per socket, but it is a size, not noise around 0 or a GB.
    assert -100 < float(last["kb"]) < 1000, output
    assert 0 < float(last["p50"]) <= float(last["p99"]) < 10_000, output
    assert 0 < float(last["ring"]) < 10_000 and float(last["lag"]) >= 0, output
    assert float(last["server"]) > 0 and float(last["client"]) > 0, output
