"""Media-node settings: what `loket serve` and `loket media` refuse to start with, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loket.app import create_app
from loket.settings import Settings, SettingsError

LOKET = str(Path(sys.executable).with_name("loket"))
SECRET = "a-media-secret-that-is-long-enough-0123456789"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_short_media_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="LOKET_MEDIA_SECRET must be at least 32"):
        settings(media_secret="short")


def test_media_nodes_without_a_secret_are_refused_with_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LOKET_MEDIA_SECRET: set it"):
        settings(redis_url="redis://127.0.0.1:6379/0").cluster()
    with pytest.raises(SettingsError, match="LOKET_MEDIA_SECRET"):
        create_app(settings(redis_url="redis://127.0.0.1:6379/0", spool_dir=tmp_path / "spool"))


def test_no_media_without_redis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="--no-media places calls on media nodes"):
        create_app(settings(spool_dir=tmp_path / "spool"), run_media=False)


def test_the_node_settings_build_its_config_and_the_port_range_is_checked() -> None:
    built = settings(
        redis_url="redis://127.0.0.1:6379/0",
        media_secret=SECRET,
        media_node_id="media-1",
        media_bind_host="0.0.0.0",  # noqa: S104 - the internal network's side of a container
        media_bind_port=7100,
        media_internal_url="http://media-1:7100",
        media_udp_ports="40000-40199",
    )
    node = built.media_node()
    assert (node.node_id, node.bind_host, node.bind_port, node.internal_url) == (
        "media-1",
        "0.0.0.0",  # noqa: S104
        7100,
        "http://media-1:7100",
    )
    assert built.cluster().secret == SECRET
    assert built.media_udp_port_range() == (40000, 40199)
    for bad in ("40199-40000", "80-90", "many"):
        with pytest.raises(SettingsError, match="LOKET_MEDIA_UDP_PORTS"):
            settings(media_udp_ports=bad)
    with pytest.raises(SettingsError, match="LOKET_MEDIA_NODE_ID"):
        settings(media_node_id="no spaces")


def test_the_udp_range_and_public_address_reach_the_media_config() -> None:
    media = settings(media_udp_ports="40000-40199", media_public_address="203.0.113.7").media()
    assert (media.udp_ports, media.public_address) == ((40000, 40199), "203.0.113.7")
    assert (settings().media().udp_ports, settings().media().public_address) == (None, None)
    with pytest.raises(SettingsError, match="LOKET_MEDIA_PUBLIC_ADDRESS is an IP address"):
        settings(media_public_address="media.example.com")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve", "--no-media"], {}, "--no-media places calls on media nodes"),
        (["media"], {"LOKET_REDIS_URL": "redis://127.0.0.1:1/0"}, "LOKET_MEDIA_SECRET"),
        (["media"], {}, "LOKET_REDIS_URL"),
    ],
)
def test_the_commands_refuse_missing_media_settings_in_one_line(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    done = subprocess.run(
        [LOKET, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
