"""Production refuses what is unsafe (issue 12 item 11): a signing key with too little entropy (not
only too short), an all-zero master key, an http:// public URL, ``--demo``; development mode warns
when it listens beyond this machine; the Docker image runs in production mode."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from db import LoketError
from loket import production as checks
from loket.settings import Settings

LOKET = Path(sys.executable).with_name("loket")
ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "p5Qz-8vKcW2xNf0RmYt7LhJ3bAgDs9EuTo4iVnC6"


def production(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "env": "production",
        "database_url": "postgresql+asyncpg://loket@db.internal/loket",
        "secret_key": GOOD_SECRET,
        "master_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "public_url": "https://video.garage.example",
        "turn_secret": "Hq7-Vx2mPz9KcR4sWb8NdF1tLg6YjA3e",
    }
    values.update(overrides)
    return values


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LOKET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def refused(**values: Any) -> str:
    with pytest.raises((ValidationError, LoketError)) as raised:
        Settings(_env_file=None, **production(**values))  # type: ignore[call-arg]
    return str(raised.value)


def test_real_production_secrets_start() -> None:
    loaded = Settings(_env_file=None, **production(secret_key=secrets.token_urlsafe(32)))  # type: ignore[call-arg]
    assert loaded.production


@pytest.mark.parametrize("weak", ["s" * 48, "ab" * 24, "0123456789" * 4, "password" * 5])
def test_a_long_secret_key_with_too_little_entropy_is_refused(weak: str) -> None:
    assert len(weak) >= 32  # long enough for the length check: entropy is what refuses it
    message = refused(secret_key=weak)
    assert "LOKET_SECRET_KEY has too little entropy" in message


@pytest.mark.parametrize(
    ("field", "name"),
    [("turn_secret", "LOKET_TURN_SECRET"), ("media_secret", "LOKET_MEDIA_SECRET")],
)
def test_every_shared_secret_with_too_little_entropy_is_refused(field: str, name: str) -> None:
    # Long enough for every length check: only the entropy check can refuse these.
    for weak in ("t" * 40, "0123456789" * 4):
        message = refused(**{field: weak})
        assert f"{name} has too little entropy" in message
        assert "LOKET_SECRET_KEY" not in message
    loaded = Settings(_env_file=None, **production(**{field: secrets.token_urlsafe(32)}))  # type: ignore[call-arg]
    assert loaded.production


def test_the_entropy_estimate_rates_random_keys_well_above_the_floor() -> None:
    assert checks.estimated_bits("s" * 48) == 0
    assert checks.estimated_bits("ab" * 16) == 32
    assert checks.estimated_bits("0123456789" * 4) < checks.MIN_SECRET_BITS
    for _ in range(20):
        assert checks.estimated_bits(secrets.token_urlsafe(32)) > checks.MIN_SECRET_BITS + 50
        assert checks.estimated_bits(secrets.token_hex(32)) > checks.MIN_SECRET_BITS + 50


def test_an_all_zero_master_key_is_refused() -> None:
    zero = base64.urlsafe_b64encode(bytes(32)).decode()
    assert "LOKET_MASTER_KEY is all zeros" in refused(master_key=zero)
    same = base64.urlsafe_b64encode(b"m" * 32).decode()
    assert "LOKET_MASTER_KEY is not random" in refused(master_key=same)


def test_an_http_public_url_is_refused() -> None:
    assert "LOKET_PUBLIC_URL must be https://" in refused(public_url="http://video.garage.example")


def test_development_accepts_what_it_always_did() -> None:
    loaded = Settings(  # type: ignore[call-arg]
        _env_file=None, secret_key="s" * 48, public_url="http://127.0.0.1:8080"
    )
    assert not loaded.production


def run_loket(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LOKET_")}
    environment.update(env)
    return subprocess.run(
        [str(LOKET), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
        check=False,
    )


def test_serve_with_demo_is_refused_in_production_before_touching_anything(tmp_path: Path) -> None:
    env = {f"LOKET_{name.upper()}": str(value) for name, value in production().items()}
    env["LOKET_DATABASE_URL"] = "postgresql+asyncpg://loket@db.invalid/loket"
    result = run_loket(tmp_path, "serve", "--demo", **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: --demo") and "refused in production" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_until_listening(tmp_path: Path, host: str) -> str:
    """Start `loket serve` in development mode on ``host``; its stderr once it listens."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LOKET_")}
    environment["LOKET_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'loket.db'}"
    environment["LOKET_TRANSCRIPTION_ENABLED"] = "false"
    process = subprocess.Popen(
        [str(LOKET), "serve", "--host", host, "--port", str(free_port()), "--no-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=environment,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        for line in process.stdout:
            if "Running on" in line:
                break
            assert time.monotonic() < deadline, "loket serve did not start"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    return stderr


@pytest.mark.timeout(150)
def test_development_warns_when_it_listens_beyond_loopback_and_not_on_loopback(tmp_path: Path) -> None:
    wide = serve_until_listening(tmp_path, "0.0.0.0")  # noqa: S104 - the case under test
    assert "development mode (LOKET_ENV unset) is listening on 0.0.0.0" in wide, wide
    assert "Traceback" not in wide
    local = serve_until_listening(tmp_path, "127.0.0.1")
    assert "development mode" not in local, local


def test_the_bind_warning_knows_loopback() -> None:
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.53"):
        assert checks.bind_warning(host, production=False) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.10", "loket.example"):  # noqa: S104
        assert checks.bind_warning(host, production=False) is not None, host
    assert checks.bind_warning("0.0.0.0", production=True) is None  # noqa: S104


def test_the_docker_image_runs_in_production_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    env_lines = [line.strip() for line in final_stage.splitlines() if line.strip().startswith("ENV ")]
    assert "ENV LOKET_ENV=production" in env_lines
