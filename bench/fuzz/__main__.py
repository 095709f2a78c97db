"""``python -m bench.fuzz --cases 10000 [--seed N]``: prints ``cases=… failures=…`` and each failure;
exits 1 when any case failed."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from bench.fuzz.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument(
        "--cases", type=int, default=1000, help="cases in all (half REST, a third socket.io, the rest SDP)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="Hypothesis seed: the same seed draws the same cases"
    )
    args = parser.parse_args(argv)
    # Refused input is logged by the server as warnings; only errors matter here.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    started = time.monotonic()
    report = run(args.cases, seed_value=args.seed, on_case=lambda failure: print("FAIL", failure, flush=True))
    for failure in report.failures:
        print("failure:", failure)
    print(f"{report.line()} seconds={time.monotonic() - started:.0f}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
