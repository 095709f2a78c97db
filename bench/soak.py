"""``python -m bench.soak``: calls with media and a full waiting room for minutes, watched for loss
and growth.

    python -m bench.soak [--visitors 200] [--calls 20] [--minutes 10] [--churn 2] [--warmup 60]
                         [--media-nodes 0] [--backend services|embedded]

On a deployment of its own (``bench.load.deployment``; PostgreSQL and Redis by default):

1. ``--calls`` calls are set up as ``bench.load`` sets them up (a visitor and an adviser each,
   synthetic peers sending VP8 and Opus, ``bench.load.calls``), so every adviser is busy;
2. ``--visitors`` visitors (``bench.light_socket``, plain socket.io) join the same queue and
   wait: advisers see them in ``queue:snapshot``;
3. for ``--minutes``, every second ``--churn`` waiting visitors leave (``queue:leave``) and as
   many new visitors join at the tail, so those behind move up (``queue:position``).

Every 10 s it reads each server process's resident memory (``/proc``) and each call's received
video. At the end it reports:

- ``lost_events``: events missing from a session's ``seq`` numbers (every session: the waiting
  visitors, those who left, and both parties of every call);
- ``dropped_calls``: calls that ended that the tool did not end (``call:ended``), or whose video
  stopped at either party for a whole 10 s sample;
- ``failed``: joins and leaves refused or unanswered, visitors who could not connect;
- per process, the RSS at the end of ``--warmup`` seconds and at the end, and the growth;
- the p99 event-loop lag of the server processes after the warm-up (``bench.looplag``) and of
  this process (a lagging load generator paces and counts worse).

The last line::

    soak visitors=<n> calls=<n> minutes=<x> lost_events=<n> dropped_calls=<n> failed=<n>
    events=<n> rss_growth_pct=<worst process> loop_lag_p99_ms=<worst process>
    client_lag_p99_ms=<x> client_cores=<x> goal=met|missed

(on one line) after a line ``rss <process>=<start MiB>-><end MiB> (<growth %>)`` per process.
The goal: no event lost, no call dropped, RSS growth at most 5 % after the warm-up. The exit
status is 1 when an event was lost, a call dropped or a join failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from bench.crowd import bounded, http_session, ok, rss_bytes, visitor
from bench.light_socket import LightSocket, SocketError, gaps
from bench.load.calls import CallRecord, CallSet, SetupError, Target, client_address
from bench.load.cpu import cpu_seconds
from bench.load.deployment import BACKENDS, LANGUAGE, Deployment, DeploymentError
from bench.load.report import percentile
from bench.load.run import LagMeter, StepPlan, call_set, set_up
from media.synthetic import encoded_loop
from media.synthetic_peer import RtpCounter, SyntheticPeer

GOAL_RSS_GROWTH_PCT = 5.0
_SAMPLE_S = 10.0
_CLIENT = "client"  # this process: printed, not held to the goal


@dataclass
class SoakResult:
    visitors: int
    calls: int
    minutes: float
    lost_events: int = 0
    events: int = 0
    dropped: dict[int, str] = field(default_factory=dict)  # call index -> why
    failed: int = 0
    # process -> (RSS after the warm-up, RSS at the end), bytes
    rss: dict[str, tuple[int, int]] = field(default_factory=dict)
    client_rss: tuple[int, int] = (0, 0)
    loop_lag_p99_s: dict[str, float] = field(default_factory=dict)
    client_lag_p99_s: float = 0.0
    client_cores: float = 0.0
    errors: list[str] = field(default_factory=list)

    def growth_pct(self, name: str) -> float:
        start, end = self.rss[name]
        return 100.0 * (end - start) / start if start else float("nan")

    def goal_met(self) -> bool:
        worst = max((self.growth_pct(name) for name in self.rss), default=float("nan"))
        return self.lost_events == 0 and not self.dropped and worst <= GOAL_RSS_GROWTH_PCT

    def rss_lines(self) -> list[str]:
        lines = [
            f"rss {name}={start / 2**20:.1f}->{end / 2**20:.1f} MiB ({self.growth_pct(name):+.1f} %)"
            for name, (start, end) in self.rss.items()
        ]
        start, end = self.client_rss
        return [*lines, f"rss of this process (the clients): {start / 2**20:.1f}->{end / 2**20:.1f} MiB"]

    def summary(self) -> str:
        """The last line (the format scripts rely on)."""
        growth = max((self.growth_pct(name) for name in self.rss), default=float("nan"))
        lag = max(self.loop_lag_p99_s.values(), default=float("nan"))
        return (
            f"soak visitors={self.visitors} calls={self.calls} minutes={self.minutes:g} "
            f"lost_events={self.lost_events} dropped_calls={len(self.dropped)} failed={self.failed} "
            f"events={self.events} rss_growth_pct={growth:.1f} loop_lag_p99_ms={1000 * lag:.1f} "
            f"client_lag_p99_ms={1000 * self.client_lag_p99_s:.1f} client_cores={self.client_cores:.2f} "
            f"goal={'met' if self.goal_met() else 'missed'}"
        )


def _video_frames(peer: SyntheticPeer | None) -> int:
    counter = peer.received["video"] if peer is not None else None
    return counter.frames if isinstance(counter, RtpCounter) else 0


class _WaitingRoom:
    """The waiting visitors: each joins the queue once; :meth:`churn` replaces the oldest."""

    def __init__(self, http: aiohttp.ClientSession, target: Target, result: SoakResult) -> None:
        self.waiting: list[LightSocket] = []
        self.left: list[LightSocket] = []
        self._http, self._target, self._result = http, target, result
        self._next = 0

    async def arrive(self) -> LightSocket:
        index, self._next = self._next, self._next + 1
        socket = await visitor(self._http, self._target, client_address(0, 1, index))
        await ok(socket, "queue:join", {"queue_id": self._target.queue_id, "language": LANGUAGE})
        self.waiting.append(socket)
        return socket

    async def fill(self, count: int) -> None:
        done = await bounded([self.arrive for _ in range(count)], 20)
        self._failed([d for d in done if isinstance(d, BaseException)])

    async def churn(self, count: int) -> None:
        leaving, self.waiting = self.waiting[:count], self.waiting[count:]

        async def leave(socket: LightSocket) -> None:
            try:
                await ok(socket, "queue:leave")
            finally:
                await socket.close()

        done = await asyncio.gather(*(leave(s) for s in leaving), return_exceptions=True)
        self.left += leaving
        self._failed([d for d in done if isinstance(d, BaseException)])
        await self.fill(count)

    def _failed(self, problems: list[BaseException]) -> None:
        self._result.failed += len(problems)
        self._result.errors += [str(p) for p in problems][:5]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.waiting))


class _Watch:
    """Samples every process's RSS, and which calls stopped receiving video or were ended."""

    def __init__(self, deployment: Deployment, live: list[CallRecord], result: SoakResult) -> None:
        self.rss: list[tuple[float, dict[str, int]]] = []
        self._deployment, self._live, self._result = deployment, live, result
        self._frames = self._count()

    def _count(self) -> dict[int, tuple[int, int]]:
        return {r.index: (_video_frames(r.visitor), _video_frames(r.adviser)) for r in self._live}

    def sample(self) -> None:
        memory = {name: rss_bytes(pid) for name, pid in self._deployment.pids().items()}
        memory[_CLIENT] = rss_bytes(os.getpid())
        self.rss.append((time.monotonic(), memory))
        frames = self._count()
        for record in self._live:
            ended = [e.get("reason") for s in record.sessions() for e in s.drain("call:ended")]
            pairs = zip(self._frames[record.index], frames[record.index], strict=True)
            stalled = any(after <= before for before, after in pairs)
            if ended or stalled:
                before = self._frames[record.index]
                why = f"call:ended {ended}" if ended else f"no video {before} -> {frames[record.index]}"
                self._result.dropped.setdefault(record.index, why)
        self._frames = frames


async def soak(deployment: Deployment, args: argparse.Namespace, say: bool = True) -> SoakResult:
    target = deployment.target
    assert target is not None
    result = SoakResult(visitors=args.visitors, calls=args.calls, minutes=args.minutes)

    def show(text: str) -> None:
        if say:
            print(text, flush=True)

    first = {name: rss_bytes(pid) for name, pid in deployment.pids().items()}
    plan = StepPlan(calls=args.calls, seconds=60 * args.minutes, ramp_s=0.5, media_nodes=args.media_nodes)
    calls: CallSet = call_set(target, plan, media=encoded_loop())
    async with http_session() as http:
        room = _WaitingRoom(http, target, result)
        try:
            live = await set_up(calls, plan)
            result.dropped.update({r.index: f"set-up: {r.error}" for r in calls.records if r not in live})
            await room.fill(args.visitors)
            waiting = len(room.waiting)
            show(f"{len(live)}/{args.calls} calls with media, {waiting}/{args.visitors} visitors waiting")
            await _run(deployment, args, live, room, result, show)
        finally:
            await calls.stop()
            await room.close()
    sessions = [s.seqs for r in calls.records for s in r.sessions()]
    sessions += [s.seqs for s in (*room.waiting, *room.left)]
    result.events = sum(len(seqs) for seqs in sessions)
    result.lost_events = sum(gaps(seqs) for seqs in sessions)
    show("rss at start: " + " ".join(f"{name}={rss / 2**20:.1f} MiB" for name, rss in first.items()))
    return result


async def _run(
    deployment: Deployment,
    args: argparse.Namespace,
    live: list[CallRecord],
    room: _WaitingRoom,
    result: SoakResult,
    show: Callable[[str], None],
) -> None:
    watch = _Watch(deployment, live, result)
    lag = LagMeter()
    lag.start()
    began, cpu0 = time.monotonic(), cpu_seconds([os.getpid()])
    warm_until = began + args.warmup
    end = began + 60 * args.minutes
    sample_every = min(_SAMPLE_S, max(1.0, (end - began) / 5))
    next_sample = began + sample_every
    next_report = began + 60
    try:
        while (now := time.monotonic()) < end:
            await room.churn(args.churn)
            if now >= next_sample:
                watch.sample()
                next_sample += sample_every
            if now >= next_report:
                rss = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in watch.rss[-1][1].items())
                minute = (now - began) / 60
                show(
                    f"{minute:.0f} min: RSS MiB {rss}; dropped {len(result.dropped)}, failed {result.failed}"
                )
                next_report += 60
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        watch.sample()
    finally:
        await lag.stop()
    wall = time.monotonic() - began
    result.client_cores = (cpu_seconds([os.getpid()]) - cpu0) / wall
    result.client_lag_p99_s = percentile(lag.samples, 99)
    after = [memory for at, memory in watch.rss if at >= warm_until] or [watch.rss[-1][1]]
    result.rss = {name: (after[0][name], watch.rss[-1][1][name]) for name in after[0]}
    result.client_rss = result.rss.pop(_CLIENT)
    await asyncio.sleep(1.5)  # the server's lag samples are written once a second
    for name in deployment.pids():
        samples = [lag for at, lag in deployment.loop_lag(name) if warm_until <= at <= end]
        result.loop_lag_p99_s[name] = percentile(samples, 99)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--visitors", type=int, default=200, help="visitors waiting (default 200)")
    p.add_argument("--calls", type=int, default=20, help="calls with media (default 20)")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes soaked (default 10)")
    p.add_argument("--churn", type=int, default=2, help="waiting visitors replaced each second (default 2)")
    p.add_argument(
        "--warmup", type=float, default=60.0, help="seconds before RSS counts as start (default 60)"
    )
    p.add_argument("--media-nodes", type=int, default=0, help="media nodes (`loket media`; default 0)")
    p.add_argument(
        "--backend", choices=BACKENDS, default="services", help="PostgreSQL + Redis, or SQLite + memory"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if min(args.visitors, args.calls) < 1 or args.minutes <= 0 or args.churn < 0 or args.warmup < 0:
        raise SystemExit(
            "--visitors and --calls at least 1, --minutes positive, --churn and --warmup not negative"
        )
    if args.warmup >= 60 * args.minutes:
        raise SystemExit("--warmup must be shorter than --minutes")
    encoded_loop()  # the calls' media, encoded once before anything is timed
    print(
        f"soak: {args.calls} calls and {args.visitors} waiting visitors ({args.churn} replaced a second) "
        f"for {args.minutes:g} min, {args.warmup:g} s warm-up "
        f"({args.backend}, {args.media_nodes} media nodes)",
        flush=True,
    )
    try:
        with Deployment(
            advisers=args.calls,
            media_nodes=args.media_nodes,
            backend=args.backend,
            # The installation-wide cap on widget sessions (600 a minute) would refuse the churn.
            settings={"LOKET_WIDGET_SESSIONS_PER_MINUTE": "100000"},
            loop_lag=True,
        ) as deployment:
            result = asyncio.run(soak(deployment, args))
    except (DeploymentError, SetupError, SocketError) as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    for error in result.errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    for index, why in sorted(result.dropped.items())[:5]:
        print(f"dropped call {index}: {why}", file=sys.stderr)
    with contextlib.suppress(OSError):
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for line in result.rss_lines():
        print(line)
    print(result.summary())
    return 1 if result.lost_events or result.dropped or result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
