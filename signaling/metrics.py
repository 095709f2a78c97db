"""Prometheus metrics, in a registry owned by the app (no process-global registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
