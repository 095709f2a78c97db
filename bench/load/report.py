"""What one run of N calls measured, and how it is printed: the table of ``--steps`` and the
last line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepResult:
    """One measured window of ``calls`` concurrent calls.

    ``delivered_pct``: video frames the other party received whole over frames sent, both
    ways. ``loss_pct``: RTP packets lost over expected, audio and video, both ways.
    ``join_to_media_p95_ms``: from the visitor's ``queue:join`` to a first whole video frame
    at both parties. CPU per call is cores used in the window divided by ``calls``; the
    server's is ``None`` when the tool did not start it (``--url``).
    """

    calls: int
    failed: int
    seconds: float
    delivered_pct: float
    loss_pct: float
    join_to_media_p95_ms: float
    server_core_per_call: float | None
    client_core_per_call: float
    client_lag_p95_ms: float
    media_nodes: int | None
    load_average: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.failed < 0 or self.seconds <= 0:
            raise ValueError("a step has at least one call and a positive window")

    def summary(self) -> str:
        """The last line of a run (the format scripts rely on)."""
        return (
            f"calls={self.calls} delivered_pct={self.delivered_pct:.2f} loss_pct={self.loss_pct:.2f} "
            f"join_to_media_p95_ms={self.join_to_media_p95_ms:.0f} "
            f"server_core_per_call={_number(self.server_core_per_call, 4)} "
            f"client_core_per_call={self.client_core_per_call:.4f} "
            f"media_nodes={'na' if self.media_nodes is None else self.media_nodes}"
        )


_COLUMNS = (
    ("calls", 5),
    ("failed", 6),
    ("delivered_%", 11),
    ("loss_%", 7),
    ("join→media p95 ms", 17),
    ("server core/call", 16),
    ("client core/call", 16),
    ("client lag p95 ms", 17),
    ("load avg", 8),
)


def table(results: Sequence[StepResult]) -> str:
    """The ``--steps`` table, one row per step."""
    header = "  ".join(name.rjust(width) for name, width in _COLUMNS)
    rows = [header]
    for r in results:
        cells = (
            str(r.calls),
            str(r.failed),
            f"{r.delivered_pct:.2f}",
            f"{r.loss_pct:.2f}",
            f"{r.join_to_media_p95_ms:.0f}",
            _number(r.server_core_per_call, 4),
            f"{r.client_core_per_call:.4f}",
            f"{r.client_lag_p95_ms:.0f}",
            f"{r.load_average:.2f}",
        )
        rows.append("  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, _COLUMNS, strict=True)))
    return "\n".join(rows)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _number(value: float | None, digits: int) -> str:
    return "na" if value is None else f"{value:.{digits}f}"
