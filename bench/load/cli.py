"""``python -m bench.load``: arguments, the deployment, the steps, what is printed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from bench.load.calls import Credentials, SetupError, Target
from bench.load.deployment import BACKENDS, Deployment, DeploymentError
from bench.load.failover import run_failover
from bench.load.report import StepResult, table
from bench.load.run import StepPlan, run_step
from media.synthetic import encoded_loop

DEFAULT_STEPS = (10, 20, 30, 40)
# Between steps: the server closes the last step's legs and forgets its sessions.
_SETTLE_S = 3.0


def _steps(value: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("steps are call counts separated by commas: 10,20,30,40") from exc
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError("each step needs at least one call")
    return steps


def parser() -> argparse.ArgumentParser:
    from bench.load import __doc__ as usage

    p = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=(usage or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--spawn", action="store_true", help="start a deployment of the tool's own")
    where.add_argument("--url", help="a running Loket (then --widget-key, --origin, --queue, --adviser-*)")
    p.add_argument("--calls", type=int, default=10, help="concurrent 1:1 calls (default 10)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step (default 30)")
    p.add_argument(
        "--steps",
        nargs="?",
        const=DEFAULT_STEPS,
        type=_steps,
        metavar="N,N,...",
        help="run one step per call count and print a table (default 10,20,30,40)",
    )
    p.add_argument("--media-nodes", type=int, default=0, help="--spawn: media nodes (`loket media`)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="services",
        help="--spawn: PostgreSQL + Redis, or SQLite + memory",
    )
    p.add_argument(
        "--kill-a-node", action="store_true", help="SIGKILL a media node mid-call; time the failover"
    )
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of media before measuring (default 2)")
    p.add_argument("--ramp", type=float, default=1.0, help="seconds between two visitors joining (default 1)")
    p.add_argument("--setup-timeout", type=float, default=60.0, help="seconds for every call to have media")
    p.add_argument("--widget-key", help="--url: a widget key")
    p.add_argument("--origin", help="--url: one of the widget key's origins")
    p.add_argument("--queue", help="--url: the queue id the visitors join")
    p.add_argument("--language", help="--url: the language the visitors ask for")
    p.add_argument(
        "--adviser-email", help="--url: advisers' e-mail with {i} for 0, 1, ... (one adviser per call)"
    )
    p.add_argument("--adviser-password", help="--url: the advisers' password")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the calls do")
    return p


def _url_target(args: argparse.Namespace, advisers: int) -> Target:
    missing = [
        f"--{name.replace('_', '-')}"
        for name in ("widget_key", "origin", "queue", "adviser_email", "adviser_password")
        if not getattr(args, name)
    ]
    if missing:
        raise SystemExit(f"--url needs {', '.join(missing)}")
    if "{i}" not in args.adviser_email:
        raise SystemExit("--adviser-email needs {i}: one adviser per concurrent call")
    return Target(
        url=args.url.rstrip("/"),
        widget_key=args.widget_key,
        origin=args.origin,
        queue_id=args.queue,
        advisers=tuple(
            Credentials(args.adviser_email.replace("{i}", str(i)), args.adviser_password)
            for i in range(advisers)
        ),
        language=args.language,
    )


async def run_steps(
    target: Target,
    steps: Sequence[int],
    *,
    seconds: float,
    warmup: float = 2.0,
    ramp: float = 1.0,
    setup_timeout: float = 60.0,
    media_nodes: int | None = 0,
    server_cpu: Callable[[], float] | None = None,
    show: Callable[[str], None] = print,
) -> list[StepResult]:
    """Each step in turn, on the same deployment; prints each result as it comes."""
    media = encoded_loop()
    results: list[StepResult] = []
    for index, calls in enumerate(steps):
        if index:
            await asyncio.sleep(_SETTLE_S)
        plan = StepPlan(
            calls=calls,
            seconds=seconds,
            warmup_s=warmup,
            ramp_s=ramp,
            setup_timeout_s=setup_timeout,
            media_nodes=media_nodes,
            server_cpu=server_cpu,
        )
        result = await run_step(target, plan, media=media, step=index)
        show(
            f"step {index + 1}/{len(steps)}: {result.summary()} failed={result.failed} "
            f"client_lag_p95_ms={result.client_lag_p95_ms:.0f} load_avg={result.load_average:.2f}"
        )
        results.append(result)
    return results


def _kill_a_node(args: argparse.Namespace) -> int:
    """``--kill-a-node``: one deployment, ``--calls`` calls, a node killed; the failover's line last."""
    media = encoded_loop()
    print(f"load: {args.calls} calls, kill the media node holding most, then {args.seconds:g} s measured")
    try:
        with Deployment(
            advisers=args.calls, media_nodes=args.media_nodes, backend=args.backend
        ) as deployment:
            assert deployment.target is not None
            print(f"spawned: {deployment.url} ({args.backend}, {args.media_nodes} media nodes)")
            plan = StepPlan(
                calls=args.calls,
                seconds=args.seconds,
                warmup_s=args.warmup,
                ramp_s=args.ramp,
                setup_timeout_s=args.setup_timeout,
                media_nodes=args.media_nodes,
                server_cpu=deployment.cpu_seconds,
            )
            failover, after = asyncio.run(run_failover(deployment.target, plan, deployment, media=media))
    except (DeploymentError, SetupError) as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load: interrupted", file=sys.stderr)
        return 130
    print(
        "media back after the kill, per moved call (s): "
        + " ".join(f"{s:.2f}" for s in failover.media_back_s)
    )
    print(f"after the failover: {after.summary()} failed={after.failed}")
    print(failover.summary())
    return 1 if failover.not_recovered or after.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("bench").setLevel(logging.INFO)
    steps: tuple[int, ...] = args.steps or (args.calls,)
    if args.seconds <= 0 or args.media_nodes < 0:
        raise SystemExit("--seconds must be positive and --media-nodes at least 0")
    if args.kill_a_node and (not args.spawn or args.media_nodes < 2 or args.steps):
        print("--kill-a-node needs --spawn and --media-nodes 2 or more (one to kill, one to take its calls)")
        return 2
    encoded_loop()  # the clients' media, encoded once before anything else
    print(f"load: {', '.join(map(str, steps))} calls, {args.seconds:g} s measured each, VP8 640x480 + Opus")

    def go(
        target: Target, media_nodes: int | None, server_cpu: Callable[[], float] | None
    ) -> list[StepResult]:
        return asyncio.run(
            run_steps(
                target,
                steps,
                seconds=args.seconds,
                warmup=args.warmup,
                ramp=args.ramp,
                setup_timeout=args.setup_timeout,
                media_nodes=media_nodes,
                server_cpu=server_cpu,
            )
        )

    if args.kill_a_node:
        return _kill_a_node(args)
    try:
        if args.spawn:
            with Deployment(
                advisers=max(steps), media_nodes=args.media_nodes, backend=args.backend
            ) as deployment:
                assert deployment.target is not None
                print(f"spawned: {deployment.url} ({args.backend}, {args.media_nodes} media nodes)")
                results = go(deployment.target, args.media_nodes, deployment.cpu_seconds)
        else:
            results = go(_url_target(args, max(steps)), None, None)
    except (DeploymentError, SetupError) as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load: interrupted", file=sys.stderr)
        return 130
    if len(results) > 1:
        print(table(results))
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(results[-1].summary())
    return 1 if any(r.failed for r in results) else 0
