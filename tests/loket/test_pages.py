"""The browser pages are served from the widget build with a strict CSP, and their scripts
from /assets; a name outside the build is a 404, never a file from elsewhere on disk."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import base_url

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@pytest.mark.parametrize("path", ["/console/", "/admin/", "/privacy/request"])
async def test_each_page_is_served_with_a_content_security_policy(server: TestServer, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(base_url(server) + path) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        body = await response.text()
    assert '<script src="/assets/' in body


async def test_a_page_without_its_slash_redirects_to_it(server: TestServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base_url(server) + "/console", allow_redirects=False) as response,
    ):
        assert response.status == 301
        assert response.headers["Location"] == "/console/"


async def test_assets_are_the_built_scripts_and_nothing_else(server: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url(server) + "/assets/console.js") as response:
            assert response.status == 200
            assert response.content_type == "text/javascript"
        for name in ("..%2Fwidget.js", "missing.js", "console.js.map", "CONSOLE.js"):
            async with http.get(base_url(server) + "/assets/" + name) as response:
                assert response.status == 404, name
                assert (await response.json())["error"]["code"] == "not_found"
