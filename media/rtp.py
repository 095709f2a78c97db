"""RTP timestamps as one stream's media timeline: ``RtpTimeline``.

An RTP timestamp is a 32-bit count of ``clock_rate`` ticks that starts at a random value
(RFC 3550 section 5.1), so it wraps past 2**32 back to 0: every 13 hours at 90 kHz, every
24.9 hours at 48 kHz, and at any moment when the random start lies near the top. Both the
forwarder (pts handed to the other party's sender) and the recorder (millisecond pts in the
WebM file) turn such timestamps into a timeline that never goes back, with this one class.

For each frame, in arrival order:

1. The step from the previous frame's timestamp is taken modulo 2**32 and read as signed
   (:func:`timestamp_step`). A wrap from 2**32 - 1 to 0 is then a step of one tick, and
   timestamps that another layer already unwrapped (aiortc's receiver counts past 2**32)
   give the very same steps.
2. A step that goes backwards, stands still or jumps further than
   :data:`MAX_TIMESTAMP_JUMP_S` is a new timeline (the sender restarted or changed SSRC), not
   elapsed time: the timeline goes on by the wall-clock time between the two frames'
   arrivals, at least one tick.
3. The ticks summed since the first frame are expressed in the output ``time_base``,
   counted from ``start``.

The promise: the pts are strictly increasing; while upstream is continuous (wrap included)
they keep exactly its RTP spacing; lost frames leave a forward step, so a gap stays a gap.
"""

from __future__ import annotations

import fractions
from typing import Final

#: RTP timestamps are 32-bit (RFC 3550 section 5.1).
RTP_TIMESTAMP_MODULUS: Final = 1 << 32

#: An RTP timestamp step larger than this is a new timeline (the sender restarted or changed
#: SSRC), not elapsed time.
MAX_TIMESTAMP_JUMP_S: Final = 10.0

_HALF = RTP_TIMESTAMP_MODULUS >> 1


def timestamp_step(previous: int, current: int) -> int:
    """Ticks from RTP timestamp ``previous`` to ``current``, modulo 2**32, as a signed number.

    The result lies in ``[-2**31, 2**31)``: the shorter way round the 32-bit circle, so a step
    across the wrap (RFC 3550 section 5.1) is a small positive number, and a small step back
    (a restarted sender) a small negative one.
    """
    step = (current - previous) % RTP_TIMESTAMP_MODULUS
    return step - RTP_TIMESTAMP_MODULUS if step >= _HALF else step


class RtpTimeline:
    """One stream's RTP timestamps as strictly increasing pts in ``time_base``.

    ``time_base`` defaults to one RTP tick (``1/clock_rate``): the pts are then the ticks
    since the first frame, which gets ``start``. With a coarser ``time_base`` (WebM's
    milliseconds) the pts are rounded down and nudged up by one where rounding would make
    two frames equal. See the module docstring for the rules.
    """

    def __init__(
        self, clock_rate: int, *, time_base: fractions.Fraction | None = None, start: int = 0
    ) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        if time_base is not None and time_base <= 0:
            raise ValueError("time_base must be positive")
        self.clock_rate = clock_rate
        self.time_base = time_base if time_base is not None else fractions.Fraction(1, clock_rate)
        self.last_pts: int | None = None
        self._start = start
        # pts = start + ticks * _scale_num // _scale_den (exact integer arithmetic).
        self._scale_num = self.time_base.denominator
        self._scale_den = clock_rate * self.time_base.numerator
        self._max_jump = int(MAX_TIMESTAMP_JUMP_S * clock_rate)
        self._ticks = 0
        self._last_timestamp: int | None = None
        self._last_arrival = 0.0

    def pts(self, timestamp: int, arrival: float) -> int:
        """The pts of a frame with this RTP timestamp that arrived at ``arrival`` (seconds)."""
        if self._last_timestamp is not None:
            step = timestamp_step(self._last_timestamp, timestamp)
            if not 0 < step <= self._max_jump:
                step = max(1, round((arrival - self._last_arrival) * self.clock_rate))
            self._ticks += step
        self._last_timestamp, self._last_arrival = timestamp, arrival
        pts = self._start + self._ticks * self._scale_num // self._scale_den
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1  # strictly increasing, whatever the rounding
        self.last_pts = pts
        return pts
