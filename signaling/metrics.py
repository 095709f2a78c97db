"""Prometheus metrics of a signalling node, in a registry owned by the app (no process-global one).

Two kinds live here. *Events* are counted where they happen, once, on the node that handles
them (every change of an organisation's calls is made under its lock on one node), so a
cluster's figure is the ``sum`` over its nodes: HTTP requests, socket.io events, and the call
lifecycle (``CallMetrics``: joined, answered with its wait, abandoned with its wait, ended with
its duration). *State* read from shared places (the realtime store, the database) is
collected when Prometheus scrapes (``loket.observability``): every node reports the same
figure, so a cluster's figure is the ``max`` over its nodes.

``CallMetrics`` also writes the call lifecycle to the log (``call.joined``, ``call.answered``,
``call.abandoned``, ``call.ended``) with the call id, queue id and event as fields, never the
reference or anything of the visitor (``loket.logs`` formats them as JSON lines).
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from signaling.state import CallState

logger = logging.getLogger(__name__)

# Seconds: a waiting room is measured in seconds to minutes; a call in minutes.
WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1800.0)
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0)


class CallMetrics:
    """The call lifecycle as counters and histograms per queue (the queue's id as label)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.joined = Counter(
            "loket_calls_joined", "Visitors who joined a queue", ["queue"], registry=registry
        )
        self.answered = Counter(
            "loket_calls_answered", "Calls accepted by an adviser", ["queue"], registry=registry
        )
        self.abandoned = Counter(
            "loket_calls_abandoned",
            "Calls that ended before an adviser accepted them",
            ["queue"],
            registry=registry,
        )
        self.ended = Counter(
            "loket_calls_ended",
            "Answered calls that ended, by reason",
            ["queue", "reason"],
            registry=registry,
        )
        self.wait = Histogram(
            "loket_call_wait_seconds",
            "Time from joining the queue to being answered (outcome=answered) or giving up (abandoned)",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "loket_call_duration_seconds",
            "Time from being answered to the end of the call",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    def call_joined(self, call: CallState) -> None:
        self.joined.labels(call.queue_id).inc()
        _log("call.joined", call)

    def call_answered(self, call: CallState) -> None:
        """``call`` as stored after the accept (``accepted_at`` set)."""
        waited = max(0.0, call.accepted_at - call.joined_at)
        self.answered.labels(call.queue_id).inc()
        self.wait.labels(call.queue_id, "answered").observe(waited)
        _log("call.answered", call, waited_seconds=round(waited, 1))

    def call_finished(self, call: CallState, *, answered: bool, reason: str, now: float) -> None:
        """``call`` as it was just before it ended; ``answered``: it had been accepted."""
        if answered:
            lasted = max(0.0, now - call.accepted_at)
            self.ended.labels(call.queue_id, reason).inc()
            self.duration.labels(call.queue_id).observe(lasted)
            _log("call.ended", call, reason=reason, duration_seconds=round(lasted, 1))
        else:
            waited = max(0.0, now - call.joined_at)
            self.abandoned.labels(call.queue_id).inc()
            self.wait.labels(call.queue_id, "abandoned").observe(waited)
            _log("call.abandoned", call, reason=reason, waited_seconds=round(waited, 1))


def _log(event: str, call: CallState, **fields: object) -> None:
    # Ids and figures only: never call.reference, call.visitor or an address.
    logger.info(
        "%s %s",
        event,
        call.id,
        extra={"event": event, "call_id": call.id, "queue_id": call.queue_id, **fields},
    )


class Metrics:
    """The node's registry and the metrics signalling updates itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "loket_http_requests", "HTTP requests served", ["method", "status"], registry=self.registry
        )
        self.socket_connections = Gauge(
            "loket_socket_connections", "Open socket.io connections", ["namespace"], registry=self.registry
        )
        self.socket_events = Counter(
            "loket_socket_events", "socket.io events handled", ["namespace", "ok"], registry=self.registry
        )
        self.calls = CallMetrics(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
