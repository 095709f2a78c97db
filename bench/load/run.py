"""One step of the load test: set N calls up, measure a window of media, tear them down.

The window starts ``warmup`` seconds after every call has media and lasts ``seconds``. In it:

- **delivered**: for each direction of each call, the sender's frame numbers sent in the
  window, and how many of them arrived whole at the other party (counted a second after the
  window, so frames still on their way are not missed);
- **loss**: RTP packets lost over packets expected (RFC 3550 appendix A.3), audio and video;
- **CPU**: the server's processes (from ``/proc``, when the tool started them) and this
  process, each as cores (CPU seconds over wall seconds) per call;
- **client lag**: how late this process's event loop wakes up (a 50 ms timer), the sign of
  a load generator that cannot keep up (its pacing and its counts then suffer).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.load.calls import CallRecord, CallSet, SetupError, Target
from bench.load.cpu import cpu_seconds
from bench.load.report import StepResult, percentile
from media.synthetic import EncodedLoop, LoopedVideoTrack
from media.synthetic_peer import RtpCounter, RtpTally, SyntheticPeer

logger = logging.getLogger(__name__)

_LAG_PERIOD_S = 0.05
_IN_FLIGHT_S = 1.0


@dataclass(frozen=True, slots=True)
class StepPlan:
    """How to run a step; ``server_cpu`` reads the server's CPU seconds (None: not ours)."""

    calls: int
    seconds: float
    warmup_s: float = 2.0
    ramp_s: float = 1.0
    setup_timeout_s: float = 60.0
    media_nodes: int | None = 0
    server_cpu: Callable[[], float] | None = None


class LagMeter:
    """Samples how late a periodic timer fires on this event loop."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(_LAG_PERIOD_S)
            self.samples.append(max(0.0, time.monotonic() - before - _LAG_PERIOD_S))


def _directions(calls: list[CallRecord]) -> list[tuple[SyntheticPeer, SyntheticPeer]]:
    pairs = []
    for call in calls:
        assert call.visitor is not None and call.adviser is not None
        pairs += [(call.visitor, call.adviser), (call.adviser, call.visitor)]
    return pairs


def _video(peer: SyntheticPeer) -> LoopedVideoTrack:
    assert peer.video is not None
    return peer.video


def _sent(peer: SyntheticPeer) -> int:
    return _video(peer).frames_sent


def _video_health(peer: SyntheticPeer) -> tuple[int, int]:
    """(damaged frames, keyframes) the peer has received."""
    counter = peer.received["video"]
    assert isinstance(counter, RtpCounter)
    return counter.damaged_frames, counter.keyframes


def _tally(peer: SyntheticPeer) -> RtpTally:
    total = RtpTally(0, 0, 0, 0)
    for counter in peer.received.values():
        assert isinstance(counter, RtpCounter)
        tally = counter.tally()
        total = RtpTally(
            total.frames + tally.frames,
            total.packets + tally.packets,
            total.expected + tally.expected,
            total.lost + tally.lost,
        )
    return total


def call_set(target: Target, plan: StepPlan, *, media: EncodedLoop, step: int = 0) -> CallSet:
    """The calls of one step (not started)."""
    return CallSet(
        target, plan.calls, media=media, step=step, ramp_s=plan.ramp_s, setup_timeout_s=plan.setup_timeout_s
    )


async def set_up(calls: CallSet, plan: StepPlan) -> list[CallRecord]:
    """Start the calls and wait for their media; the calls that have it. Raises
    :class:`SetupError` when none does."""
    began = time.monotonic()
    await calls.start()
    live = await calls.wait_media()
    logger.info("%d of %d calls have media after %.1f s", len(live), plan.calls, time.monotonic() - began)
    failed = [r for r in calls.records if r.error is not None]
    for record in failed[:5]:
        logger.warning("call %d failed: %s", record.index, record.error)
    if not live:
        raise SetupError(f"no call got media ({failed[0].error})")
    return live


async def run_step(target: Target, plan: StepPlan, *, media: EncodedLoop, step: int = 0) -> StepResult:
    """Run ``plan.calls`` calls on ``target`` and measure one window; raises
    :class:`SetupError` when no call got media."""
    calls = call_set(target, plan, media=media, step=step)
    try:
        live = await set_up(calls, plan)
        await asyncio.sleep(plan.warmup_s)
        return await measure(calls, live, plan)
    finally:
        await calls.stop()


async def measure(calls: CallSet, live: list[CallRecord], plan: StepPlan) -> StepResult:
    """Measure one window of ``plan.seconds`` over the ``live`` calls (after their warm-up)."""
    failed = [r for r in calls.records if r.error is not None]
    lag = LagMeter()
    try:
        directions = _directions(live)
        peers = [sender for sender, _ in directions]
        sent0 = {id(p): _sent(p) for p in peers}
        video0 = {id(p): _video_health(p) for p in peers}
        tally0 = {id(p): _tally(p) for p in peers}
        server0 = plan.server_cpu() if plan.server_cpu else None
        client0 = cpu_seconds([os.getpid()])
        wall0 = time.monotonic()
        lag.start()
        logger.info("measuring %.0f s", plan.seconds)
        await asyncio.sleep(plan.seconds)
        wall = time.monotonic() - wall0
        client = cpu_seconds([os.getpid()]) - client0
        server = plan.server_cpu() - server0 if plan.server_cpu and server0 is not None else None
        await lag.stop()
        sent1 = {id(p): _sent(p) for p in peers}
        tally1 = {id(p): _tally(p) for p in peers}
        video1 = {id(p): _video_health(p) for p in peers}
        await asyncio.sleep(_IN_FLIGHT_S)

        sent = delivered = 0
        worst: list[tuple[float, str]] = []
        for sender, receiver in directions:
            window = range(sent0[id(sender)], sent1[id(sender)])
            arrived = len(set(receiver.received["video"].numbers).intersection(window))
            sent += len(window)
            delivered += arrived
            damaged, keyframes = (
                b - a for a, b in zip(video0[id(receiver)], video1[id(receiver)], strict=True)
            )
            requests = _video(sender).keyframe_requests
            detail = f"{arrived}/{len(window)} whole, {damaged} damaged, {keyframes} keyframes"
            worst.append(
                (arrived / len(window) if window else 1.0, f"{detail} ({requests} keyframe requests)")
            )
        for _share, text in sorted(worst)[:3]:
            logger.info("a direction of the fewest frames delivered: %s", text)
        window_tally = [tally1[id(p)] - tally0[id(p)] for p in peers]
        expected = sum(t.expected for t in window_tally)
        lost = sum(t.lost for t in window_tally)
        join_ms = [ms for r in live if (ms := r.join_to_media_ms()) is not None]
        return StepResult(
            calls=plan.calls,
            failed=len(failed),
            seconds=wall,
            delivered_pct=100.0 * delivered / sent if sent else 0.0,
            loss_pct=100.0 * lost / expected if expected else 0.0,
            join_to_media_p95_ms=percentile(join_ms, 95),
            server_core_per_call=None if server is None else server / wall / len(live),
            client_core_per_call=client / wall / len(live),
            client_lag_p95_ms=1000 * percentile(lag.samples, 95),
            media_nodes=plan.media_nodes,
            load_average=os.getloadavg()[0],
        )
    finally:
        await lag.stop()
