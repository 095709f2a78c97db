"""``--kill-a-node``: SIGKILL the media node carrying calls, mid-call, and time the failover.

With ``--spawn`` and at least two media nodes: the calls are set up and warmed up as in any
step; the registry says which node holds each call, and the node holding the most is killed
(SIGKILL: no withdrawal, no goodbye). Its calls are placed on a live node once its heartbeat
lapses, and both parties are told ``media:renegotiate``; each party then does what the widget
and the console do, a new peer connection offering afresh (``CallSet.renegotiate``).

*Media back*, per moved call: from the kill to both parties having a whole video frame from
their new connections. Reported as p50 and max over the moved calls, against the goal of 10 s
(issue 10). Then one window is measured over every call that has media (the moved ones on their
new node, the others untouched), as a step is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from bench.load.calls import CallRecord, SetupError, Target
from bench.load.report import StepResult, percentile
from bench.load.run import StepPlan, call_set, measure, set_up
from media.node import ClusterConfig, Registry
from media.synthetic import EncodedLoop

logger = logging.getLogger(__name__)

GOAL_S = 10.0
# How long a moved call may take to have media again before it counts as not recovered.
RECOVERY_TIMEOUT_S = 30.0


class MediaNodes(Protocol):
    """What the failover needs of a deployment: its registry, and a way to kill a node."""

    def cluster(self) -> ClusterConfig: ...

    def kill(self, node_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class FailoverResult:
    """One kill: the node, how many calls it held, and when each moved call had media again."""

    node_id: str
    calls: int
    moved: int
    media_back_s: tuple[float, ...]
    others_told: int

    @property
    def not_recovered(self) -> int:
        return self.moved - len(self.media_back_s)

    def summary(self) -> str:
        """The last line of a ``--kill-a-node`` run."""
        p50, worst = percentile(self.media_back_s, 50), max(self.media_back_s, default=float("nan"))
        return (
            f"failover killed={self.node_id} calls_moved={self.moved}/{self.calls} "
            f"not_recovered={self.not_recovered} media_back_p50_s={p50:.2f} media_back_max_s={worst:.2f} "
            f"goal_s={GOAL_S:.0f} others_told={self.others_told}"
        )


async def _owners(cluster: ClusterConfig, records: list[CallRecord]) -> dict[str, str | None]:
    registry = Registry(cluster)
    await registry.start()
    try:
        return {r.call_id: await registry.owner(r.call_id) for r in records if r.call_id is not None}
    finally:
        await registry.stop()


async def run_failover(
    target: Target, plan: StepPlan, nodes: MediaNodes, *, media: EncodedLoop
) -> tuple[FailoverResult, StepResult]:
    """Set ``plan.calls`` calls up, kill the node holding most of them, time their recovery,
    then measure one window; raises :class:`SetupError` when no call got media."""
    calls = call_set(target, plan, media=media)
    try:
        live = await set_up(calls, plan)
        await asyncio.sleep(plan.warmup_s)
        owners = await _owners(nodes.cluster(), live)
        victim, held = Counter(node for node in owners.values() if node is not None).most_common(1)[0]
        moved = [r for r in live if owners.get(r.call_id or "") == victim]
        logger.info("killing %s, which holds %d of %d calls", victim, held, len(live))
        waiting = [asyncio.create_task(calls.renegotiate(r, RECOVERY_TIMEOUT_S)) for r in moved]
        killed_at = time.monotonic()
        nodes.kill(victim)
        back: list[float] = []
        for record, outcome in zip(
            moved, await asyncio.gather(*waiting, return_exceptions=True), strict=True
        ):
            if isinstance(outcome, float):
                back.append(outcome - killed_at)
            else:
                record.error = f"not recovered after the kill: {outcome}"
                logger.warning("call %d: %s", record.index, record.error)
        others_told = sum(calls.told_to_renegotiate(r) for r in live if r not in moved)
        result = FailoverResult(victim, len(live), len(moved), tuple(sorted(back)), others_told)
        recovered = [r for r in live if r.error is None]
        if not recovered:
            raise SetupError("no call had media after the kill")
        await asyncio.sleep(plan.warmup_s)
        return result, await measure(calls, recovered, plan)
    finally:
        await calls.stop()
