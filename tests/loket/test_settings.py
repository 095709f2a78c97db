"""Settings: embedded defaults, LOKET_ variables and .env, and production's refusal to guess secrets."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from db import LoketError
from loket.settings import Environment, Settings, SettingsError

SECRETS = {
    "secret_key": "LOKET_SECRET_KEY",
    "master_key": "LOKET_MASTER_KEY",
    "public_url": "LOKET_PUBLIC_URL",
    "turn_secret": "LOKET_TURN_SECRET",
}


def production(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "env": "production",
        "database_url": "postgresql+asyncpg://loket@db.internal/loket",
        # Random-looking: production refuses keys with too little entropy (loket/production.py).
        "secret_key": "p5Qz-8vKcW2xNf0RmYt7LhJ3bAgDs9EuTo4iVnC6",
        "master_key": base64.urlsafe_b64encode(bytes(range(7, 39))).decode(),
        "public_url": "https://video.garage.example",
        "turn_secret": "Hq7-Vx2mPz9KcR4sWb8NdF1tLg6YjA3e",
    }
    values.update(overrides)
    return values


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LOKET_ variable and no .env from the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("LOKET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_are_the_embedded_mode() -> None:
    loaded = settings()
    assert loaded.env is Environment.DEVELOPMENT and not loaded.production
    assert loaded.database_url == "sqlite+aiosqlite:///./data/loket.db"
    assert loaded.redis_url is None
    assert loaded.storage_url == "file://./data/recordings"
    assert loaded.s3_endpoint_url is None
    assert loaded.trusted_proxies == []
    assert loaded.access_log_days == 7
    assert loaded.ring_timeout_seconds == 20.0
    assert loaded.resume_window_seconds == 60.0


def test_development_without_a_secret_key_signs_with_a_random_one_per_process() -> None:
    first, second = settings(), settings()
    key = first.resolved_secret_key()
    assert len(key) >= 32
    assert first.resolved_secret_key() == key
    assert second.resolved_secret_key() != key
    assert first.signaling().secret_key == key


def test_an_empty_secret_key_in_development_means_a_random_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOKET_SECRET_KEY", "")
    assert len(settings().signaling().secret_key) >= 32


def test_variables_with_the_loket_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOKET_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("LOKET_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("LOKET_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("LOKET_ICE_SERVERS", '[{"urls": ["turn:turn.example:3478"]}]')
    monkeypatch.setenv("LOKET_TURN_SECRET", "t" * 32)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///ignored-without-prefix.db")
    loaded = settings()
    assert loaded.database_url == "postgresql+asyncpg://u@h/db"
    assert loaded.redis_url == "redis://cache:6379/2"
    config = loaded.signaling()
    assert config.trusted_proxies == ("10.0.0.0/8",)
    assert config.ice_servers == ({"urls": ["turn:turn.example:3478"]},)


def test_a_dot_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOKET_REDIS_URL=redis://from-dotenv:6379/0\nLOKET_ACCESS_LOG_DAYS=3\n")
    loaded = Settings()
    assert loaded.redis_url == "redis://from-dotenv:6379/0"
    assert loaded.access_log_days == 3


def test_production_with_every_secret_starts() -> None:
    loaded = settings(**production())
    assert loaded.production
    config = loaded.signaling()
    assert config.secret_key == production()["secret_key"]
    assert config.issuer == "https://video.garage.example"


def test_production_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOKET_ENV", "production")
    with pytest.raises((ValidationError, LoketError), match="LOKET_SECRET_KEY"):
        settings()


@pytest.mark.parametrize("field", sorted(SECRETS))
@pytest.mark.parametrize("absent", ["unset", "empty"])
def test_production_without_a_secret_refuses_and_names_it(field: str, absent: str) -> None:
    values = production()
    if absent == "unset":
        del values[field]
    else:
        values[field] = ""
    with pytest.raises((ValidationError, LoketError)) as refused:
        settings(**values)
    message = str(refused.value)
    assert SECRETS[field] in message
    for other_field, other_name in SECRETS.items():
        if other_field != field:
            assert other_name not in message


def test_production_without_any_secret_names_them_all() -> None:
    with pytest.raises((ValidationError, LoketError)) as refused:
        settings(env="production")
    for name in [*SECRETS.values(), "LOKET_DATABASE_URL"]:
        assert name in str(refused.value)


def test_production_refuses_the_embedded_sqlite_database() -> None:
    with pytest.raises((ValidationError, LoketError), match="LOKET_DATABASE_URL"):
        settings(**production(database_url="sqlite+aiosqlite:///./data/loket.db"))


@pytest.mark.parametrize("env", ["production", "development"])
def test_a_secret_key_shorter_than_32_characters_is_refused(env: str) -> None:
    with pytest.raises((ValidationError, LoketError), match="LOKET_SECRET_KEY"):
        settings(**production(env=env, secret_key="x" * 31))


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError, match="env"):
        settings(env="staging")


@pytest.mark.parametrize(
    "url", ["not a url", "mysql://loket@db/loket", "postgresql://loket@db/loket", "sqlite:///./data/loket.db"]
)
def test_a_database_url_without_a_supported_async_driver_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        settings(database_url=url)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///./x.db", "postgresql+asyncpg://u:p@db:5432/loket"])
def test_the_two_supported_database_urls_are_accepted(url: str) -> None:
    assert settings(database_url=url).database_url == url


@pytest.mark.parametrize("bad", ["not base64 at all!", base64.b64encode(b"short").decode()])
def test_a_master_key_that_is_not_32_bytes_of_base64_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match="LOKET_MASTER_KEY"):
        settings(**production(master_key=bad))


def test_development_without_a_master_key_keeps_one_generated_key(tmp_path: Path) -> None:
    first = settings(spool_dir=tmp_path / "spool").resolved_master_key()
    again = settings(spool_dir=tmp_path / "spool").resolved_master_key()
    assert first == again
    assert len(first) == 32
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ([{"urls": ["turn:turn.example:3478"]}], "LOKET_TURN_SECRET"),
        ([{"urls": []}], "at least one URL"),
        ([{"urls": ["http://stun.example"]}], "must start with"),
    ],
)
def test_ice_servers_browsers_would_refuse_stop_the_start(
    servers: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        settings(ice_servers=servers)


def test_a_turn_server_is_fine_with_a_secret_or_static_credentials() -> None:
    turn = {"urls": "turn:turn.example:3478"}
    assert settings(ice_servers=[turn], turn_secret="x" * 32).ice_servers == [turn]
    settings(ice_servers=[{**turn, "username": "u", "credential": "c"}])
