"""``python -m bench.sockets``: memory per waiting visitor and join latency with a full waiting room.

    python -m bench.sockets --visitors 5000 [--rate 100] [--seconds 10] [--advisers 20]
                            [--backend embedded|services] [--concurrency 100]

Against one signalling process it spawns (``bench.load.deployment``: one ``loket serve``, SQLite
and in-memory state by default, as ``make run`` has it; ``--backend services`` for PostgreSQL
and Redis):

1. ``--advisers`` advisers log in and go available; they serve the queue ``Load`` only. The
   ``--rate`` x ``--seconds`` visitors who will join in step 3 connect (a visitor session holds
   one call: a new join is a new visitor). The server's resident memory is read.
2. ``--visitors`` visitors connect and join the queue ``Hold``, which no adviser serves, so they
   wait (in the same organisation, so every pairing decision sees them). The memory is read
   again: ``kb_per_socket`` is the difference over the visitors connected.
3. For ``--seconds``, ``--rate`` joins a second: a free joiner sends ``queue:join`` to
   ``Load`` (the acknowledgement's time is ``join_ack``), waits until an adviser is rung for its
   call (``call:incoming``: ``join_to_ring``, from the join sent), and leaves (``queue:leave``),
   which frees the adviser. A join due while this process is still busy with the last one's is
   counted ``starved`` (then the clients, not the server, set the pace).

The clients are ``bench.light_socket`` (engine.io/socket.io framing over one aiohttp websocket
each), all in this process; their CPU is printed so a reader can judge whether they kept up, as
is the server's event-loop lag (``bench.looplag``). The last line::

    sockets visitors=<n> connected=<n> kb_per_socket=<x> join_ack_p50_ms=<x> join_ack_p99_ms=<x>
    join_to_ring_p99_ms=<x> joins=<n> unrung=<n> failed=<n> starved=<n> server_loop_lag_p99_ms=<x>
    server_cores=<x> client_cores=<x> goal_kb=40 goal_p99_ms=50 goal=met|missed

(on one line). The exit status is 1 when a visitor could not connect or a join failed or was
never rung; a missed goal is reported by ``goal=missed`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial

from bench.crowd import adviser, bounded, http_session, ok, rss_bytes, visitor
from bench.light_socket import LightSocket, SocketError
from bench.load.calls import Target, client_address
from bench.load.cpu import cpu_seconds
from bench.load.deployment import BACKENDS, LANGUAGE, Deployment, DeploymentError
from bench.load.report import percentile

GOAL_KB = 40
GOAL_P99_MS = 50
_RING_TIMEOUT_S = 10.0
_SETTLE_S = 3.0


@dataclass
class SocketsResult:
    visitors: int
    connected: int = 0
    kb_per_socket: float = 0.0
    join_ack_s: list[float] = field(default_factory=list)
    join_to_ring_s: list[float] = field(default_factory=list)
    joins: int = 0
    unrung: int = 0
    failed: int = 0
    starved: int = 0
    server_loop_lag_s: list[float] = field(default_factory=list)
    server_cores: float = 0.0
    client_cores: float = 0.0
    errors: list[str] = field(default_factory=list)

    def goal_met(self) -> bool:
        return (
            self.kb_per_socket <= GOAL_KB
            and percentile(self.join_ack_s, 99) * 1000 <= GOAL_P99_MS
            and percentile(self.join_to_ring_s, 99) * 1000 <= GOAL_P99_MS
        )

    def summary(self) -> str:
        """The last line (the format scripts rely on)."""
        wanted = ((self.join_ack_s, 50), (self.join_ack_s, 99), (self.join_to_ring_s, 99))
        ms = [1000 * percentile(values, pct) for values, pct in (*wanted, (self.server_loop_lag_s, 99))]
        return (
            f"sockets visitors={self.visitors} connected={self.connected} "
            f"kb_per_socket={self.kb_per_socket:.1f} join_ack_p50_ms={ms[0]:.1f} join_ack_p99_ms={ms[1]:.1f} "
            f"join_to_ring_p99_ms={ms[2]:.1f} joins={self.joins} unrung={self.unrung} failed={self.failed} "
            f"starved={self.starved} server_loop_lag_p99_ms={ms[3]:.1f} server_cores={self.server_cores:.2f} "
            f"client_cores={self.client_cores:.2f} goal_kb={GOAL_KB} goal_p99_ms={GOAL_P99_MS} "
            f"goal={'met' if self.goal_met() else 'missed'}"
        )


class _Rings:
    """When each call was rung (``call:incoming`` at any adviser), waited for by call id."""

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Future[float]] = {}

    def heard(self, event: str, data: dict[str, object]) -> None:
        if event != "call:incoming":
            return
        call_id, at = str(data["call_id"]), float(data["_at"])  # type: ignore[arg-type]
        future = self._waiting.pop(call_id, None)
        if future is None:
            self._at[call_id] = at  # rung before the join's acknowledgement came back
        elif not future.done():
            future.set_result(at)

    async def wait(self, call_id: str, timeout: float) -> float:
        if call_id in self._at:
            return self._at.pop(call_id)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(call_id, None)


async def _joins(
    target: Target, joiners: list[LightSocket], rings: _Rings, rate: float, result: SocketsResult
) -> None:
    async def one(joiner: LightSocket) -> None:
        sent = time.monotonic()
        try:
            ack = await ok(joiner, "queue:join", {"queue_id": target.queue_id, "language": LANGUAGE})
            result.join_ack_s.append(time.monotonic() - sent)
            try:
                result.join_to_ring_s.append(await rings.wait(ack["call_id"], _RING_TIMEOUT_S) - sent)
            except TimeoutError:
                result.unrung += 1
            await ok(joiner, "queue:leave")
        except SocketError as exc:
            result.failed += 1
            result.errors.append(str(exc))
            await asyncio.gather(joiner.call("queue:leave"), return_exceptions=True)

    tasks = []
    began = time.monotonic()
    for index, joiner in enumerate(joiners):
        late = time.monotonic() - (began + index / rate)
        if late > 1 / rate:
            result.starved += 1
        await asyncio.sleep(max(0.0, -late))
        result.joins += 1
        tasks.append(asyncio.create_task(one(joiner)))
    await asyncio.gather(*tasks)


async def measure(deployment: Deployment, args: argparse.Namespace, say: bool = True) -> SocketsResult:
    target, hold = deployment.target, deployment.hold_queue_id
    assert target is not None and hold is not None
    result = SocketsResult(visitors=args.visitors)
    rings = _Rings()
    serve = deployment.pids()["serve"]
    joins = round(args.rate * args.seconds)

    def show(text: str) -> None:
        if say:
            print(text, flush=True)

    async with http_session() as http:
        staff = await bounded(
            [partial(adviser, http, target, target.advisers[i], client_address(1, 0, i), rings.heard)
             for i in range(args.advisers)],
            10,
        )  # fmt: skip
        pool = await bounded(
            [partial(visitor, http, target, client_address(0, 1, i)) for i in range(joins)],
            args.concurrency,
        )
        problems = [p for p in (*staff, *pool) if isinstance(p, BaseException)]
        if problems:
            raise DeploymentError(f"{len(problems)} advisers or joiners could not connect: {problems[0]}")
        joiners = [p for p in pool if isinstance(p, LightSocket)]
        await asyncio.sleep(_SETTLE_S)
        rss_before = rss_bytes(serve)

        async def waiting(index: int) -> LightSocket:
            socket = await visitor(http, target, client_address(0, 0, index))
            await ok(socket, "queue:join", {"queue_id": hold, "language": LANGUAGE})
            return socket

        began, cpu0 = time.monotonic(), cpu_seconds([os.getpid()])
        crowd = await bounded([partial(waiting, i) for i in range(args.visitors)], args.concurrency)
        waited = [c for c in crowd if isinstance(c, LightSocket)]
        result.connected = len(waited)
        result.errors += [str(c) for c in crowd if isinstance(c, BaseException)][:5]
        show(
            f"connected {len(waited)}/{args.visitors} waiting visitors in {time.monotonic() - began:.1f} s "
            f"(clients {(cpu_seconds([os.getpid()]) - cpu0) / (time.monotonic() - began):.2f} cores)"
        )
        await asyncio.sleep(_SETTLE_S)
        rss_after = rss_bytes(serve)
        result.kb_per_socket = (rss_after - rss_before) / max(1, len(waited)) / 1024
        show(f"serve RSS {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB")

        began, cpu0, server0 = time.monotonic(), cpu_seconds([os.getpid()]), deployment.cpu_seconds()
        await _joins(target, joiners, rings, args.rate, result)
        wall = time.monotonic() - began
        result.client_cores = (cpu_seconds([os.getpid()]) - cpu0) / wall
        result.server_cores = (deployment.cpu_seconds() - server0) / wall
        await asyncio.sleep(1.5)  # the lag samples are written once a second
        samples = deployment.loop_lag("serve")
        result.server_loop_lag_s = [lag for at, lag in samples if at >= began]
        show(f"{len(samples)} loop lag samples, {len(result.server_loop_lag_s)} in the joins")
        still = sum(1 for c in waited if c.open)
        show(f"{result.joins} joins in {wall:.1f} s; {still}/{len(waited)} waiting visitors still connected")
        result.failed += len(waited) - still
        await asyncio.gather(*(s.close() for s in (*waited, *joiners, *staff) if isinstance(s, LightSocket)))
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.sockets",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--visitors", type=int, default=5000, help="visitors waiting (default 5000)")
    p.add_argument("--rate", type=float, default=100.0, help="joins a second while they wait (default 100)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of joins (default 10)")
    p.add_argument("--advisers", type=int, default=20, help="advisers rung for the joins (default 20)")
    p.add_argument("--concurrency", type=int, default=100, help="visitors connecting at once (default 100)")
    p.add_argument(
        "--backend", choices=BACKENDS, default="embedded", help="SQLite + memory (default) or services"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if min(args.visitors, args.advisers, args.concurrency) < 1 or args.rate <= 0 or args.seconds <= 0:
        raise SystemExit("--visitors, --advisers, --concurrency, --rate and --seconds must be positive")
    joins = round(args.rate * args.seconds)
    print(
        f"sockets: {args.visitors} waiting visitors, then {args.rate:g} joins/s for {args.seconds:g} s "
        f"({args.backend}, {args.advisers} advisers)",
        flush=True,
    )
    # Thousands of sockets need as many descriptors, here and in the server (it inherits ours).
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.visitors + 1000:
        print(f"sockets: the open-file limit {hard} is too low for {args.visitors} visitors", file=sys.stderr)
        return 1
    try:
        with Deployment(
            advisers=args.advisers,
            backend=args.backend,
            # The installation-wide cap on widget sessions would pace the crowd at 600 a minute.
            settings={"LOKET_WIDGET_SESSIONS_PER_MINUTE": str(10 * (args.visitors + joins))},
            hold_queue=True,
            loop_lag=True,
        ) as deployment:
            result = asyncio.run(measure(deployment, args))
    except DeploymentError as exc:
        print(f"sockets: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sockets: interrupted", file=sys.stderr)
        return 130
    for error in result.errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(result.summary())
    broken = result.connected < args.visitors or result.failed or result.unrung
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
