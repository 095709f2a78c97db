"""What Prometheus reads that nobody counts as it happens: state, collected when it scrapes.

Each *source* reads its state asynchronously (``refresh``), keeps the result, and yields it as
metric families when the registry is collected (``collect``), so one scrape sees one reading.
``loket.metrics_server.Scraper`` refreshes every source (each within a timeout) and renders.

- ``QueueState`` (signalling nodes): calls waiting, ringing and active per queue, the oldest
  wait, and advisers by presence and activity, from the realtime store; the queues' names from
  the database (``loket_queue_info``).
- ``JobState`` (signalling nodes and workers): the worker's job rows — pending, leased and
  failed per job, and the age of the oldest pending one — the recording spool backlog per media
  node (NULL: the workers' spool), uploads retrying after a failure, and webhook deliveries
  retrying or failed, from the database.
- ``MediaState`` (every process with media): ``media.stats.MediaStats`` per node.

The store and the database are shared by every node, so every node reports the same figures
for ``QueueState`` and ``JobState``: aggregate them with ``max``, not ``sum``.
``WorkerMetrics`` is counted as it happens (job runs, transcriptions) and sums over workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func, select

from accounts.models import Queue
from db import SessionFactory, utcnow
from media.stats import MediaStats
from privacy.models import PrivacyRequest, PrivacyRequestStatus
from recordings.models import Recording, RecordingStatus
from signaling.state import Activity, AdviserState, Presence
from signaling.store import RealtimeStore, keys
from transcription.models import Transcript, TranscriptStatus
from webhooks.models import DeliveryStatus, WebhookDelivery

Family = GaugeMetricFamily | CounterMetricFamily


class Source(Collector):
    """A reading refreshed before each scrape; ``collect`` yields the last one."""

    name = "source"

    async def refresh(self) -> None:
        raise NotImplementedError

    def collect(self) -> Iterator[Family]:
        raise NotImplementedError


# -- queues and advisers (the realtime store) -------------------------------------------------


class QueueState(Source):
    name = "queues"

    def __init__(self, *, store: RealtimeStore, sessions: SessionFactory, clock: Any = time.time) -> None:
        self._store = store
        self._sessions = sessions
        self._clock = clock
        self._families: list[Family] = []

    async def refresh(self) -> None:
        async with self._sessions() as db:
            queues = (await db.execute(select(Queue.id, Queue.org_id, Queue.name))).all()
        now = self._clock()
        info = GaugeMetricFamily(
            "loket_queue_info", "A queue's name (value 1)", labels=["queue", "queue_name", "org"]
        )
        calls = GaugeMetricFamily(
            "loket_queue_calls",
            "Calls in a queue by state (waiting, ringing, active)",
            labels=["queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "loket_queue_oldest_wait_seconds",
            "How long the longest-waiting call has waited",
            labels=["queue"],
        )
        advisers = GaugeMetricFamily(
            "loket_advisers", "Connected advisers by presence and activity", labels=["presence", "activity"]
        )
        ringing: dict[str, int] = {}
        for member, _deadline in await self._store.zrange(keys.RINGS):
            _org, call_id = keys.split_org_member(member)
            queue_id = await self._store.hget(keys.call(call_id), "queue_id")
            if queue_id:
                ringing[queue_id] = ringing.get(queue_id, 0) + 1
        active: dict[str, int] = {}
        by_state = {(p.value, a.value): 0 for p in Presence if p is not Presence.OFFLINE for a in Activity}
        for org_id in sorted({str(org) for _, org, _ in queues}):
            for raw in (await self._store.hgetall(keys.advisers(org_id))).values():
                adviser = AdviserState.from_json(raw)
                by_state[(adviser.presence, adviser.activity)] = (
                    by_state.get((adviser.presence, adviser.activity), 0) + 1
                )
                if adviser.activity == Activity.BUSY and adviser.call_id:
                    queue_id = await self._store.hget(keys.call(adviser.call_id), "queue_id")
                    if queue_id:
                        active[queue_id] = active.get(queue_id, 0) + 1
        for queue_uuid, org_uuid, queue_name in queues:
            queue = str(queue_uuid)
            info.add_metric([queue, queue_name, str(org_uuid)], 1)
            # Waiting includes ringing calls until one is accepted (signaling.queue).
            waiting = await self._store.zrange(keys.queue_waiting(queue))
            rung = ringing.get(queue, 0)
            calls.add_metric([queue, "waiting"], max(0, len(waiting) - rung))
            calls.add_metric([queue, "ringing"], rung)
            calls.add_metric([queue, "active"], active.get(queue, 0))
            oldest.add_metric([queue], max(0.0, now - min(score for _, score in waiting)) if waiting else 0.0)
        for (presence, activity), count in sorted(by_state.items()):
            advisers.add_metric([presence, activity], count)
        self._families = [info, calls, oldest, advisers]

    def collect(self) -> Iterator[Family]:
        yield from self._families


# -- the worker's job rows (the database) -----------------------------------------------------

# job label -> (model, statuses that still wait for a worker)
_JOBS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "recording_upload": (Recording, (RecordingStatus.SPOOLED.value, RecordingStatus.UPLOADING.value)),
    "transcription": (Transcript, (TranscriptStatus.PENDING.value,)),
    "privacy_request": (
        PrivacyRequest,
        (PrivacyRequestStatus.RECEIVED.value, PrivacyRequestStatus.PROCESSING.value),
    ),
    "webhook_delivery": (WebhookDelivery, (DeliveryStatus.PENDING.value,)),
}


def _count(condition: ColumnElement[bool]) -> Any:
    return func.count().filter(condition)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class JobState(Source):
    name = "jobs"

    def __init__(self, *, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._families: list[Family] = []

    async def refresh(self) -> None:
        now = utcnow()
        jobs = GaugeMetricFamily(
            "loket_jobs", "The worker's job rows by state (pending, leased, failed)", labels=["job", "state"]
        )
        oldest = GaugeMetricFamily(
            "loket_jobs_oldest_pending_seconds", "Age of the oldest job row still waiting", labels=["job"]
        )
        async with self._sessions() as db:
            for job, (model, waiting) in _JOBS.items():
                is_waiting = model.status.in_(waiting)
                leased = model.lease_until.is_not(None) & (model.lease_until > now)
                row = (
                    await db.execute(
                        select(
                            _count(is_waiting & ~leased),
                            _count(is_waiting & leased),
                            _count(model.status == "failed"),
                            func.min(model.created_at).filter(is_waiting),
                        )
                    )
                ).one()
                jobs.add_metric([job, "pending"], row[0])
                jobs.add_metric([job, "leased"], row[1])
                jobs.add_metric([job, "failed"], row[2])
                oldest.add_metric([job], _age(now, row[3]))
            spool = (
                await db.execute(
                    select(
                        Recording.spool_node,
                        func.count(),
                        # Back in the spool after a failed attempt, waiting for the next.
                        _count(
                            (Recording.status == RecordingStatus.SPOOLED.value) & (Recording.attempts > 0)
                        ),
                        func.min(Recording.created_at),
                    )
                    .where(Recording.status.in_(_JOBS["recording_upload"][1]))
                    .group_by(Recording.spool_node)
                )
            ).all()
            hooks = (
                await db.execute(
                    select(
                        _count(
                            (WebhookDelivery.status == DeliveryStatus.PENDING.value)
                            & (WebhookDelivery.attempts > 0)
                        ),
                        _count(WebhookDelivery.status == DeliveryStatus.FAILED.value),
                    )
                )
            ).one()
        backlog = GaugeMetricFamily(
            "loket_recordings_spool_backlog",
            'Recordings spooled and not yet stored, per media node ("workers": the workers\' spool)',
            labels=["node"],
        )
        backlog_age = GaugeMetricFamily(
            "loket_recordings_spool_oldest_seconds",
            "Age of the oldest recording waiting in a spool",
            labels=["node"],
        )
        retrying = GaugeMetricFamily(
            "loket_recording_uploads_retrying",
            "Spooled recordings whose upload failed and waits to be retried",
            labels=["node"],
        )
        for node, count, failed_before, first in spool:
            label = node or "workers"
            backlog.add_metric([label], count)
            backlog_age.add_metric([label], _age(now, first))
            retrying.add_metric([label], failed_before)
        webhooks = GaugeMetricFamily(
            "loket_webhook_deliveries_failing",
            "Webhook deliveries whose attempts failed: retrying (still pending) or failed for good",
            labels=["state"],
        )
        webhooks.add_metric(["retrying"], hooks[0])
        webhooks.add_metric(["failed"], hooks[1])
        self._families = [jobs, oldest, backlog, backlog_age, retrying, webhooks]

    def collect(self) -> Iterator[Family]:
        yield from self._families


# -- media (this process's calls) -------------------------------------------------------------


class MediaState(Source):
    name = "media"

    def __init__(self, stats: MediaStats, *, node: str) -> None:
        self._stats = stats
        self._node = node
        self._families: list[Family] = []

    async def refresh(self) -> None:
        snapshot = await self._stats.snapshot()
        node = self._node
        calls = GaugeMetricFamily("loket_media_calls", "Calls with media on this node", labels=["node"])
        calls.add_metric([node], snapshot.calls)
        legs = GaugeMetricFamily("loket_media_legs", "Legs by connection state", labels=["node", "state"])
        states: dict[str, int] = {}
        for leg in snapshot.legs:
            states[leg.state] = states.get(leg.state, 0) + 1
        for state, count in sorted(states.items()):
            legs.add_metric([node, state], count)
        forwarded = CounterMetricFamily(
            "loket_media_forwarded_packets",
            "Media forwarded from one party to the other",
            labels=["node", "kind"],
        )
        dropped = CounterMetricFamily(
            "loket_media_dropped_packets",
            "Media received and not forwarded (waiting for a keyframe, no receiver)",
            labels=["node", "kind"],
        )
        keyframes = CounterMetricFamily(
            "loket_media_keyframe_requests", "Keyframe requests (PLI) sent upstream", labels=["node", "kind"]
        )
        for kind, totals in sorted(snapshot.totals.kinds.items()):
            forwarded.add_metric([node, kind], totals.forwarded)
            dropped.add_metric([node, kind], totals.dropped)
            keyframes.add_metric([node, kind], totals.keyframe_requests)
        lost = CounterMetricFamily(
            "loket_media_packets_lost",
            "RTP packets lost (inbound: party to us; outbound: us to party)",
            labels=["node", "direction"],
        )
        for direction, count in sorted(snapshot.totals.packets_lost.items()):
            lost.add_metric([node, direction], count)
        rtt = GaugeMetricFamily(
            "loket_media_leg_rtt_seconds",
            "Round-trip time of a leg (RTCP)",
            labels=["node", "call_id", "party"],
        )
        leg_lost = GaugeMetricFamily(
            "loket_media_leg_packets_lost",
            "RTP packets a leg lost so far",
            labels=["node", "call_id", "party", "direction"],
        )
        for leg in snapshot.legs:
            if leg.rtt_seconds is not None:
                rtt.add_metric([node, leg.call_id, leg.party], leg.rtt_seconds)
            leg_lost.add_metric([node, leg.call_id, leg.party, "inbound"], leg.packets_lost_inbound)
            leg_lost.add_metric([node, leg.call_id, leg.party, "outbound"], leg.packets_lost_outbound)
        self._families = [calls, legs, forwarded, dropped, keyframes, lost, rtt, leg_lost]

    def collect(self) -> Iterator[Family]:
        yield from self._families


# -- the worker (counted as it happens) --------------------------------------------------------

RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
TRANSCRIPTION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class WorkerMetrics:
    """Job runs and transcriptions of one worker (or of a media node's upload job)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "loket_worker_job_runs",
            "Runs of a worker job by result (ok, failed, timeout)",
            ["job", "result"],
            registry=registry,
        )
        self.run_seconds = Histogram(
            "loket_worker_job_run_seconds",
            "How long one run of a worker job took",
            ["job"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.transcription_seconds = Histogram(
            "loket_transcription_seconds",
            "How long transcribing one call took (fetching, decoding and Whisper)",
            buckets=TRANSCRIPTION_BUCKETS,
            registry=registry,
        )

    def job_ran(self, job: str, seconds: float, result: str) -> None:
        self.runs.labels(job, result).inc()
        self.run_seconds.labels(job).observe(seconds)
