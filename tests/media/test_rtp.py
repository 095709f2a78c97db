"""``RtpTimeline``: RTP timestamps across the 32-bit wrap (the recorder's timeline; the
forwarder's sequence numbers and timestamps across the wrap are in test_rtp_header.py)."""

from __future__ import annotations

import fractions
import itertools

import pytest

from media.rtp import RtpTimeline, timestamp_step
from media.webm import WEBM_TIME_BASE

VIDEO_STEP = 3000  # 90 kHz ticks per frame at 30 fps
AUDIO_STEP = 960  # 48 kHz ticks per 20 ms Opus frame


def crossing_the_wrap(step: int, before: int, after: int) -> list[int]:
    """Raw 32-bit RTP timestamps: ``before`` frames below 2**32, then ``after`` from 0 up."""
    return [(2**32 + (n - before) * step) % 2**32 for n in range(before + after)]


def strictly_increasing(values: list[int]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def test_a_step_across_the_wrap_is_small_and_positive() -> None:
    assert timestamp_step(2**32 - 1, 0) == 1
    assert timestamp_step(2**32 - 1000, 2000) == 3000
    assert timestamp_step(0, 2**32 - 1) == -1  # backwards across the wrap
    assert timestamp_step(5, 5) == 0
    # Timestamps already unwrapped by another layer (past 2**32) give the same steps.
    assert timestamp_step(2**32 - 1000, 2**32 + 2000) == 3000
    assert timestamp_step(3 * 2**32 + 7, 3 * 2**32 + 10) == 3
    assert timestamp_step(0, 2**31 - 1) == 2**31 - 1
    assert timestamp_step(0, 2**31) == -(2**31)


def test_ticks_keep_the_rtp_spacing_across_the_wrap() -> None:
    timeline = RtpTimeline(90000)
    assert timeline.time_base == fractions.Fraction(1, 90000)
    # Every frame arrives at the same instant: only the RTP timestamps can give the spacing.
    pts = [timeline.pts(ts, 1.0) for ts in crossing_the_wrap(VIDEO_STEP, before=3, after=3)]
    assert pts == [n * VIDEO_STEP for n in range(6)]
    assert timeline.last_pts == 5 * VIDEO_STEP


@pytest.mark.parametrize("start", [2**32 - 1, 2**32 - 959, 2**32 - 961, 2**31, 0])
def test_audio_ticks_rise_evenly_wherever_the_random_start_lies(start: int) -> None:
    timeline = RtpTimeline(48000)
    timestamps = [(start + n * AUDIO_STEP) % 2**32 for n in range(100)]
    pts = [timeline.pts(ts, 0.0) for ts in timestamps]
    assert pts == [n * AUDIO_STEP for n in range(100)]


def test_webm_milliseconds_keep_the_rtp_spacing_across_the_wrap() -> None:
    timeline = RtpTimeline(90000, time_base=WEBM_TIME_BASE)
    raw = [2**32 - 9000, 2**32 - 4500, 0, 4500]  # wraps between the 2nd and 3rd frame
    assert [timeline.pts(ts, 0.0) for ts in raw] == [0, 50, 100, 150]
    # Timestamps another layer already unwrapped (past 2**32) continue just the same.
    timeline = RtpTimeline(90000, time_base=WEBM_TIME_BASE)
    assert [timeline.pts(2**32 + n * 4500, 0.0) for n in range(3)] == [0, 50, 100]
    # Opus, 20 ms apart, wrapping half-way through.
    timeline = RtpTimeline(48000, time_base=WEBM_TIME_BASE, start=7)
    pts = [timeline.pts(ts, 0.0) for ts in crossing_the_wrap(AUDIO_STEP, before=5, after=5)]
    assert pts == [7 + 20 * n for n in range(10)]


def test_a_restarted_sender_goes_on_by_the_wall_clock() -> None:
    # The timestamp falls back to a random value (a step back, not a wrap): pts go on by the
    # arrival times, 20 ms apart.
    timeline = RtpTimeline(48000, time_base=WEBM_TIME_BASE, start=7)
    pts = [timeline.pts(ts, at) for ts, at in ((960_000, 1.0), (960_960, 1.02), (5, 1.04), (965, 1.06))]
    assert pts == [7, 27, 47, 67]
    # A jump of more than ten seconds is a new timeline too, in ticks as in milliseconds.
    timeline = RtpTimeline(90000)
    pts = [timeline.pts(ts, at) for ts, at in ((0, 5.0), (3000, 5.1), (3000 + 11 * 90000, 5.2))]
    assert pts == [0, 3000, 3000 + 9000]


def test_rounding_to_milliseconds_never_repeats_a_pts() -> None:
    timeline = RtpTimeline(90000, time_base=WEBM_TIME_BASE)
    # Frames 1/90 ms apart, crossing the wrap: each must still get its own millisecond.
    pts = [timeline.pts((2**32 - 5 + n) % 2**32, 0.0) for n in range(10)]
    assert pts == list(range(10))


def test_timeline_refuses_a_clock_rate_or_time_base_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="clock_rate"):
        RtpTimeline(0)
    with pytest.raises(ValueError, match="time_base"):
        RtpTimeline(90000, time_base=fractions.Fraction(0))
