"""A join the server answers ``busy`` (the organisation's lock held too long by others) is sent
again by the widget: the visitor waits in the queue and never sees an error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from api.keys import STORE
from loket.app_keys import METRICS
from signaling.store import keys
from tests.conftest import Backend, base_url
from tests.e2e.conftest import DESKTOP, HostSite, Visitor, world_for

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["embedded"], indirect=True)]


def refused_visitor_events(loket: TestServer) -> float:
    labels = {"namespace": "/visitor", "ok": "false"}
    return loket.app[METRICS].registry.get_sample_value("loket_socket_events_total", labels) or 0.0


@pytest.mark.timeout(60)
@pytest.mark.server_settings(lock_timeout_seconds=0.4)
async def test_the_widget_sends_a_join_again_when_the_server_is_busy(
    loket: TestServer, host_site: HostSite, backend: Backend, open_visitor: Callable[..., Awaitable[Visitor]]
) -> None:
    url = base_url(loket)
    world = await world_for(backend, host_site)
    visitor = await open_visitor(
        host_site.publish("busy.html", loket=url, key=world.widget_key), viewport=DESKTOP, shots="busy"
    )
    page = visitor.page
    await page.get_by_role("button", name="Video call").click()
    refused_before = refused_visitor_events(loket)
    # Another node holds the organisation's lock for 2.5 s: every join within is answered busy.
    async with loket.app[STORE].lock(keys.org_lock(str(world.org_id)), timeout=10):
        await page.get_by_role("button", name="Start video call").click()
        await asyncio.sleep(2.5)
        assert refused_visitor_events(loket) > refused_before  # the widget was told busy ...
        assert await page.locator("[data-part=position]").count() == 0
    # ... and asked again: once the lock is free the visitor waits in the queue.
    await page.locator("[data-part=position]").wait_for(timeout=8_000)
    await visitor.shot("01-waiting-after-busy")
    assert await page.get_by_text("We could not put you in the queue").count() == 0
