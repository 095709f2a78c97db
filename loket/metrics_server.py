"""``/metrics`` on an internal port of its own (``LOKET_METRICS_HOST:LOKET_METRICS_PORT``).

Why a port and not a token on the public app: the worker and the media nodes have no public
HTTP server to put a token on, and every process should be scraped the same way; a listener
bound to the internal network cannot leak through the reverse proxy whatever its routing says;
and Prometheus then needs no secret in its configuration. The public app serves no
``/metrics`` at all (404). Unset ``LOKET_METRICS_PORT``: nothing is served.

``Scraper`` refreshes the state sources (``loket.observability``) before it renders, each
within a timeout, never two refreshes at once (scrapes that wait for one share it); a source that
fails or overstays keeps its previous reading and is reported in
``loket_metrics_source_up{source}`` (0), so one slow dependency never blanks the page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from loket.observability import Source
from loket.settings import Settings

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Scraper:
    """Renders a registry after refreshing its state sources (see the module doc)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        sources: Sequence[Source] = (),
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self.registry = registry
        self._sources = list(sources)
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._refreshed_at: float | None = None
        self._up = Gauge(
            "loket_metrics_source_up",
            "Whether a metrics source answered at the last scrape (1) or kept its previous reading (0)",
            ["source"],
            registry=registry,
        )
        for source in self._sources:
            registry.register(source)

    def add(self, source: Source) -> None:
        self._sources.append(source)
        self.registry.register(source)

    async def refresh(self) -> None:
        asked = time.monotonic()
        async with self._lock:
            if self._refreshed_at is not None and self._refreshed_at >= asked:
                return  # a refresh that started after this scrape asked has just finished
            await asyncio.gather(*(self._refresh(source) for source in self._sources))
            self._refreshed_at = time.monotonic()

    async def _refresh(self, source: Source) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await source.refresh()
        except Exception as exc:  # a dependency down: keep the last reading, say so
            logger.warning("metrics: %s could not be read (%s)", source.name, exc.__class__.__name__)
            self._up.labels(source.name).set(0)
        else:
            self._up.labels(source.name).set(1)

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)


class MetricsServer:
    """An aiohttp listener serving ``GET /metrics`` from a ``Scraper``; ``start()`` then ``stop()``."""

    def __init__(self, scraper: Scraper, *, host: str, port: int) -> None:
        self.scraper = scraper
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the metrics server is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        # Port 0 means any free port: report the one taken.
        self.port = int(runner.addresses[0][1])
        logger.info("metrics served on %s", self.url)

    async def stop(self) -> None:
        """Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=await self.scraper.render(), headers={"Content-Type": CONTENT_TYPE})


def metrics_server(settings: Settings, scraper: Scraper) -> MetricsServer | None:
    """The process's metrics listener, or None when ``LOKET_METRICS_PORT`` is unset."""
    if settings.metrics_port is None:
        return None
    return MetricsServer(scraper, host=settings.metrics_host, port=settings.metrics_port)
