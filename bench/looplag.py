"""Run a ``loket`` command and record how late its asyncio event loop runs.

    python -m bench.looplag OUT_FILE serve --port 8080 ...

Loket has no loop-lag metric of its own, and a benchmark should not change the server it
measures, so this starts the same ``loket`` command in the same process with one thread beside
it. Every 100 ms the thread hands the running loop a callback (``call_soon_threadsafe``) and the
callback notes how long it waited for its turn: the time a callback queued now waits behind the
loop's current work, the figure Node.js calls event-loop lag. The samples are appended to
OUT_FILE as ``monotonic_time lag_seconds`` lines once a second (:func:`read_lag` reads them).
The loop is found by an event loop policy that remembers each loop it makes in the main thread
(``web.run_app`` and ``asyncio.run`` both ask the policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from pathlib import Path

_PERIOD_S = 0.1


class _RememberingPolicy(asyncio.DefaultEventLoopPolicy):
    latest: asyncio.AbstractEventLoop | None = None

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        # Only the main thread's: the server's; helpers may run loops of their own in threads.
        if threading.current_thread() is threading.main_thread():
            _RememberingPolicy.latest = loop
        return loop


class _Sampler:
    def __init__(self, out: Path) -> None:
        self._out = out
        self._pending: list[str] = []  # appended to by the loop's thread (list.append is atomic)

    def _ran(self, queued: float) -> None:
        now = time.monotonic()
        self._pending.append(f"{now:.4f} {now - queued:.6f}\n")

    def run(self) -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(_PERIOD_S)
            loop = _RememberingPolicy.latest
            if loop is not None and loop.is_running():
                with contextlib.suppress(RuntimeError):  # the loop closed since the check
                    loop.call_soon_threadsafe(self._ran, time.monotonic())
            if time.monotonic() - last_write >= 1.0 and self._pending:
                # Swap the list: a callback running meanwhile appends to one or the other.
                lines, self._pending = self._pending, []
                with self._out.open("a") as file:
                    file.writelines(lines)
                last_write = time.monotonic()


def read_lag(path: Path) -> list[tuple[float, float]]:
    """The ``(monotonic time, lag seconds)`` samples written so far (none if not yet any)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    samples = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line being written may be cut short
            samples.append((float(parts[0]), float(parts[1])))
    return samples


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m bench.looplag OUT_FILE LOKET_ARGS...")
    asyncio.set_event_loop_policy(_RememberingPolicy())
    threading.Thread(target=_Sampler(Path(argv[0])).run, name="looplag", daemon=True).start()
    from loket.cli import main as loket

    sys.argv = ["loket", *argv[1:]]
    loket()


if __name__ == "__main__":
    main(sys.argv[1:])
