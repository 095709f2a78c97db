"""``CpuLoad``: how much CPU this process used lately, for placing calls on the least-loaded node."""

from __future__ import annotations

import time
from collections.abc import Callable


class CpuLoad:
    """CPU seconds per wall-clock second of this process (all its threads), smoothed.

    Each :meth:`sample` measures the time since the previous one and folds it into an
    exponentially weighted mean (``smoothing`` is the weight of the newest interval), so one
    busy second moves the figure without making it jump. 1.0 is one core kept busy.
    """

    def __init__(
        self,
        *,
        smoothing: float = 0.5,
        cpu_time: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self._smoothing = smoothing
        self._cpu_time = cpu_time
        self._clock = clock
        self._last = (clock(), cpu_time())
        self._load = 0.0

    def sample(self) -> float:
        """Measure the interval since the last sample; the smoothed load."""
        now, cpu = self._clock(), self._cpu_time()
        last_now, last_cpu = self._last
        self._last = (now, cpu)
        if now > last_now:
            current = max(0.0, cpu - last_cpu) / (now - last_now)
            self._load += self._smoothing * (current - self._load)
        return self._load
