"""``loket serve --demo`` serves /demo, a dealer's page embedding the widget with exactly the
snippet and the demo key, and says where to open it and where to log in; without --demo
there is no /demo."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loket.settings import Settings
from tests.integration.test_two_nodes import free_port
from tests.loket.test_newcomer import LOKET, _wait_ready


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[tuple[str, str]]:
    """``loket serve`` in ``tmp_path`` until the block ends: its URL and what it printed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [LOKET, "serve", "--no-worker", "--port", str(port), *args],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(url, server)
            yield url, log_path.read_text()
        finally:
            server.terminate()
            server.wait(timeout=15)


def test_the_demo_page_embeds_the_widget_with_the_demo_key_only_in_demo_mode(tmp_path: Path) -> None:
    if not (Settings.model_fields["widget_dir"].default / "pages" / "demo.html").exists():
        pytest.skip("widget/dist is not built (make widget)")
    with serving(tmp_path, "--demo") as (url, printed):
        key = re.search(r"widget key:\s+(\S+)", printed)
        assert key, printed
        assert f"demo page:    {url}/demo" in printed
        assert f"console:      {url}/console/  (log in as adviser@demo.loket.test" in printed
        status, body, headers = get(f"{url}/demo")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert f'<script src="{url}/widget.js" data-key="{key[1]}" async></script>' in body
        assert "{{" not in body
        assert f"script-src 'self' {url};" in headers["Content-Security-Policy"]
        assert get(f"{url}/widget.js")[0] == 200

    with serving(tmp_path) as (url, _):  # the same data, without --demo
        status, body, _ = get(f"{url}/demo")
        assert status == 404
        assert '"error"' in body
