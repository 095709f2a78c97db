"""widget.js as built and as served: within its size budget, public, cacheable for minutes."""

from __future__ import annotations

import gzip
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from loket.app import create_app
from tests.conftest import Backend, base_url, service_missing
from tests.e2e.conftest import WIDGET_JS

EMBEDDED = pytest.mark.parametrize("backend", ["embedded"], indirect=True)
BUDGET_GZIP_BYTES = 60_000


def built() -> bytes:
    if not WIDGET_JS.exists():
        service_missing("widget/dist/widget.js is not built (make widget)")
    return WIDGET_JS.read_bytes()


@pytest.mark.e2e
def test_widget_js_stays_within_60_kb_gzipped() -> None:
    size = len(gzip.compress(built(), compresslevel=9))
    assert size <= BUDGET_GZIP_BYTES, f"widget.js is {size} bytes gzipped"


@pytest.mark.e2e
@EMBEDDED
async def test_widget_js_is_served_as_a_public_script_with_a_short_cache(server: TestServer) -> None:
    script = built()
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(
            f"{base_url(server)}/widget.js", headers={"Accept-Encoding": "identity"}
        ) as plain:
            assert plain.status == 200
            assert plain.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert plain.headers["Access-Control-Allow-Origin"] == "*"
            assert plain.headers["Cache-Control"] == "public, max-age=300"
            assert await plain.read() == script
            etag = plain.headers["ETag"]
        async with http.get(f"{base_url(server)}/widget.js", headers={"Accept-Encoding": "gzip"}) as packed:
            assert packed.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await packed.read()) == script
        async with http.get(
            f"{base_url(server)}/widget.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}
        ) as again:
            assert again.status == 304


@EMBEDDED
async def test_an_unbuilt_widget_is_a_clear_json_404(backend: Backend, tmp_path: Path) -> None:
    app = create_app(backend.settings(widget_dir=tmp_path / "not-built"), run_worker=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http, http.get(f"{base_url(server)}/widget.js") as response:
        assert response.status == 404
        body = await response.json()
    await server.close()
    assert body["error"]["code"] == "widget_not_built"
    assert "make widget" in body["error"]["message"]
