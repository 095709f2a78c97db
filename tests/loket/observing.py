"""Helpers of the observability tests: an app with its metrics port, and reading /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from loket.app import METRICS_SERVER, create_app
from tests.conftest import Backend

Start = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def start(backend: Backend) -> AsyncIterator[Start]:
    started: list[TestServer] = []

    async def make(**overrides: Any) -> TestServer:
        run_worker = overrides.pop("run_worker", False)
        settings = backend.settings(metrics_port=0, **overrides)
        server = TestServer(create_app(settings, run_worker=run_worker), host="127.0.0.1")
        await server.start_server(shutdown_timeout=5.0)
        started.append(server)
        return server

    yield make
    for server in started:
        await server.close()


async def scrape(server: TestServer) -> dict[str, Any]:
    """The families of the app's internal /metrics, by name."""
    url = server.app[METRICS_SERVER].url
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    """The sum of the samples named ``sample_name`` whose labels include ``labels``."""
    family = families[re.sub(r"_(total|bucket|count|sum)$", "", sample_name)]
    return sum(
        sample.value
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
