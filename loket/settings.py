"""Process settings from the environment (``LOKET_*``) and ``.env``; defaults are the embedded mode.

The shell reads these once and hands each domain package its own small config dataclass.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db import LoketError
from signaling import SignalingConfig


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(LoketError):
    code = "settings_invalid"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOKET_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./data/loket.db"
    redis_url: str | None = None
    # Prefix of every Redis key and pub/sub channel, so installations can share one Redis.
    redis_prefix: str = "loket:"
    storage_url: str = "file://./data/recordings"
    s3_endpoint_url: str | None = None
    secret_key: str | None = None
    master_key: str | None = None
    public_url: str | None = None
    # No default STUN server: a third-party one would learn every visitor's address.
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    turn_secret: str | None = None
    whisper_model: str | None = None
    # Addresses of reverse proxies whose X-Forwarded-For is believed (CIDRs).
    trusted_proxies: list[str] = Field(default_factory=list)
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    visitor_token_minutes: int = 120
    ring_timeout_seconds: float = 20.0
    resume_window_seconds: float = 60.0
    access_log_days: int = 7

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Self:
        if self.env is Environment.PRODUCTION:
            missing = [
                f"LOKET_{name.upper()}"
                for name in ("secret_key", "master_key", "public_url", "turn_secret")
                if not getattr(self, name)
            ]
            if self.database_url.startswith("sqlite"):
                missing.append("LOKET_DATABASE_URL (PostgreSQL)")
            if missing:
                raise SettingsError("production mode (LOKET_ENV=production) needs: " + ", ".join(missing))
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise SettingsError("LOKET_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def resolved_secret_key(self) -> str:
        """The signing key. Development without one gets a random key per process: tokens
        then die with the process, which is the honest failure for a missing setting."""
        if self.secret_key is None:
            self.secret_key = secrets.token_urlsafe(48)
        return self.secret_key

    def signaling(self) -> SignalingConfig:
        return SignalingConfig(
            secret_key=self.resolved_secret_key(),
            issuer=self.public_url or "loket",
            access_token_seconds=self.access_token_minutes * 60,
            refresh_token_seconds=self.refresh_token_days * 86400,
            visitor_token_seconds=self.visitor_token_minutes * 60,
            ring_timeout_seconds=self.ring_timeout_seconds,
            resume_window_seconds=self.resume_window_seconds,
            trusted_proxies=tuple(self.trusted_proxies),
            ice_servers=tuple(self.ice_servers),
        )
