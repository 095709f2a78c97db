"""Process settings from the environment (``LOKET_*``) and ``.env``; defaults are the embedded mode.

The shell reads these once and hands each domain package its own small config dataclass.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import secrets
import socket
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, NonNegativeFloat, PositiveFloat, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from accounts.config import RateLimit
from db import LoketError
from db.keys import InstallationKeys
from loket import production
from media import IceServer, MediaConfig
from media.node import ClusterConfig, NodeConfig, valid_id
from privacy.dpa import DEFAULT_DPA, DpaText
from recordings import RecordingsConfig, parse_master_key
from signaling import SignalingConfig
from transcription import DEFAULT_MODEL, TranscriptionConfig
from webhooks import WebhookConfig

logger = logging.getLogger(__name__)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(LoketError):
    code = "settings_invalid"


# As media.node.config.MIN_SECRET_LENGTH (checked again there).
MIN_MEDIA_SECRET_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job's interval and timeout, in seconds."""

    every: float
    timeout: float

    def __post_init__(self) -> None:
        if not (self.every > 0 and self.timeout > 0):
            raise ValueError("every and timeout must be positive")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """The worker's job table settings (``loket.worker``): every job's schedule, the stop grace
    and the retry backoff; built by ``Settings.worker`` from ``LOKET_<JOB>_EVERY_SECONDS``,
    ``LOKET_<JOB>_TIMEOUT_SECONDS`` and ``LOKET_WORKER_STOP_GRACE_SECONDS``.

    A timeout is a bound on a stuck run (a storage or HTTP call that never answers), not a
    budget: it is well above a run's normal length, because a given-up run's rows may wait for
    their leases to run out before anyone takes them up again.
    """

    access_log_purge: Schedule = Schedule(600.0, 300.0)
    # An upload pass stores up to 100 recordings, each encrypted, uploaded and verified.
    uploads: Schedule = Schedule(5.0, 1800.0)
    retention: Schedule = Schedule(60.0, 1800.0)
    call_data_retention: Schedule = Schedule(60.0, 600.0)
    # Erasure is promised within the hour: a request waits at most `every` to start.
    privacy_requests: Schedule = Schedule(10.0, 1800.0)
    export_expiry: Schedule = Schedule(60.0, 600.0)
    # A pass transcribes up to 10 calls, each up to hours of audio per participant.
    transcription: Schedule = Schedule(10.0, 10800.0)
    # Up to 50 batches of requests, each given 10 s (WebhookConfig.timeout_seconds).
    webhook_delivery: Schedule = Schedule(5.0, 900.0)
    # Under Docker's 10 s between SIGTERM and SIGKILL, with time left to cancel and clean up.
    stop_grace_seconds: float = 5.0
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.stop_grace_seconds < 0:
            raise ValueError("stop_grace_seconds must not be negative")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds:
            raise ValueError("need 0 < retry_base_seconds <= retry_max_seconds")
        if self.privacy_requests.every > 3600:
            raise ValueError("privacy requests must be looked at within the hour (the erasure promise)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOKET_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./data/loket.db"
    redis_url: str | None = None
    # Prefix of every Redis key and pub/sub channel, so installations can share one Redis.
    redis_prefix: str = "loket:"
    storage_url: str = "file://./data/recordings"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # "AES256" or "aws:kms" sends x-amz-server-side-encryption; unset sends none.
    s3_server_side_encryption: str | None = None
    # Finished recordings wait here, encrypted, until their upload is verified.
    spool_dir: Path = Path("./data/spool")
    # The built widget (widget.js); the Docker image sets its own.
    widget_dir: Path = Path(__file__).resolve().parent.parent / "widget" / "dist"
    secret_key: str | None = None
    master_key: str | None = None
    # The data processing agreement organisations' DPOs accept (privacy.dpa); unset: the template.
    dpa_file: Path | None = None
    dpa_version: str | None = None
    public_url: str | None = None
    # No default STUN server: a third-party one would learn every visitor's address.
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    turn_secret: str | None = None
    # Accept remote ICE candidates on private, loopback and link-local addresses. Unset: yes
    # in development (everything runs on one machine), no in production (a visitor must not
    # make the media server probe its own network).
    allow_private_candidates: bool | None = None
    # Whisper (README.md, "Transcription"): the model for every language (a bundled name, "base"
    # or "tiny.en", a Hugging Face cache name, or a CTranslate2 directory), or one per language
    # as JSON ({"en": "tiny.en", "*": "base"}; "*" is every other language and detection).
    whisper_model: str | None = None
    whisper_models: dict[str, str] | None = None
    # Where the bundled base model is assembled on first use (unset: ~/.cache/loket/models).
    whisper_model_dir: Path | None = None
    whisper_device: str = "cpu"
    # Unset: float32 on the CPU (accuracy first), float16 on a GPU.
    whisper_compute_type: str | None = None
    # Beam search (5) by default: accuracy first, about 7 % slower than greedy decoding (1).
    whisper_beam_size: int = 5
    # The worker transcribes the calls of queues with transcription on. On by default: the
    # bundled offline model loads only when a queue first asks, so an installation without
    # such a queue pays nothing; false keeps this worker (or `loket serve`) from transcribing.
    transcription_enabled: bool = True
    # Addresses of reverse proxies whose X-Forwarded-For is believed (CIDRs).
    trusted_proxies: list[str] = Field(default_factory=list)
    # The header those proxies write, the only one believed (the other is the client's own).
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    # Installation-wide caps on what anyone may create without an account (a 429 with
    # Retry-After beyond them), whatever the number of addresses it comes from.
    widget_sessions_per_minute: int = Field(600, ge=1)
    privacy_requests_per_hour: int = Field(300, ge=1)
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    visitor_token_minutes: int = 120
    ring_timeout_seconds: float = 20.0
    resume_window_seconds: float = 60.0
    lock_timeout_seconds: PositiveFloat = 10.0
    access_log_days: int = 7
    # The worker's jobs (docs/architecture.md, "Worker"): seconds from the end of one run to the
    # start of the next, and how long one run may take before it is given up (its rows are then
    # handed back, or taken over once their leases run out). WorkerConfig says why each default.
    access_log_purge_every_seconds: PositiveFloat = 600.0
    access_log_purge_timeout_seconds: PositiveFloat = 300.0
    uploads_every_seconds: PositiveFloat = 5.0
    uploads_timeout_seconds: PositiveFloat = 1800.0
    retention_every_seconds: PositiveFloat = 60.0
    retention_timeout_seconds: PositiveFloat = 1800.0
    call_data_retention_every_seconds: PositiveFloat = 60.0
    call_data_retention_timeout_seconds: PositiveFloat = 600.0
    # At most an hour: erasure is promised within the hour.
    privacy_requests_every_seconds: float = Field(10.0, gt=0, le=3600)
    privacy_requests_timeout_seconds: PositiveFloat = 1800.0
    export_expiry_every_seconds: PositiveFloat = 60.0
    export_expiry_timeout_seconds: PositiveFloat = 600.0
    transcription_every_seconds: PositiveFloat = 10.0
    transcription_timeout_seconds: PositiveFloat = 10800.0
    webhook_delivery_every_seconds: PositiveFloat = 5.0
    webhook_delivery_timeout_seconds: PositiveFloat = 900.0
    # On SIGTERM, how long the runs under way may take to finish before they are cancelled.
    worker_stop_grace_seconds: NonNegativeFloat = 5.0
    # Media nodes (docs/architecture.md, "Media nodes"), used whenever LOKET_REDIS_URL is set:
    # `loket media`, and `loket serve` (its own media registers as a node; --no-media places
    # calls on the others). The secret signs every request on the internal channel: the same
    # on every node, at least 32 characters.
    media_secret: str | None = None
    # Stays the same across restarts, so a restarted node uploads what its spool still holds.
    # Unset: this machine's host name.
    media_node_id: str | None = None
    # The internal channel: an address of the internal network only (visitors never reach it).
    media_bind_host: str = "127.0.0.1"
    # 0: any free port (then LOKET_MEDIA_INTERNAL_URL is found from it).
    media_bind_port: int = Field(0, ge=0, le=65535)
    # How signalling nodes reach this node (http://host:port); unset: from the bind address.
    media_internal_url: str | None = None
    # The UDP port range ("40000-40199") the media's ICE candidates bind in (each leg takes
    # one port per local address), and the public IP address that range is reachable at,
    # announced beside the host candidates (media/_aiortc_hooks.py, "ICE ports"). Both apply
    # to `loket media` and to the media of `loket serve`.
    media_udp_ports: str | None = None
    media_public_address: str | None = None
    # A directory every media node mounts (NFS, a shared volume): each spools under
    # {it}/{node id} instead of LOKET_SPOOL_DIR, and a live node stores what a dead node's
    # spool holds (loket/spool_adoption.py). Unset: a dead node's files wait for it to restart.
    media_shared_spool: Path | None = None
    # Observability (README.md, "Operating Loket"): /metrics on its own internal port (unset:
    # not served; 0: any free port), never on the public app; logs as text or JSON lines.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(None, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        try:
            driver = make_url(url).drivername
        except ArgumentError as exc:
            raise ValueError("not a database URL") from exc
        if driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/NAME")
        return url

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
            self._refuse_unsafe_secrets()
        if self.secret_key and len(self.secret_key) < 32:
            raise SettingsError("LOKET_SECRET_KEY must be at least 32 characters")
        if self.master_key:
            try:
                parse_master_key(self.master_key)
            except ValueError as exc:
                raise SettingsError(str(exc)) from exc
        self._check_ice_servers()
        self._check_media_nodes()
        return self

    def _refuse_unsafe_secrets(self) -> None:
        """Production's secrets must be real ones (``loket.production`` says what that means)."""
        try:
            master_key = parse_master_key(self.master_key) if self.master_key else None
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        problems = production.refusals(
            secrets={
                "LOKET_SECRET_KEY": self.secret_key,
                "LOKET_TURN_SECRET": self.turn_secret,
                "LOKET_MEDIA_SECRET": self.media_secret,
            },
            master_key=master_key,
            public_url=self.public_url,
        )
        if problems:
            raise SettingsError("production mode refuses unsafe settings: " + "; ".join(problems))

    def _check_media_nodes(self) -> None:
        if self.media_secret is not None and len(self.media_secret) < MIN_MEDIA_SECRET_LENGTH:
            raise SettingsError(f"LOKET_MEDIA_SECRET must be at least {MIN_MEDIA_SECRET_LENGTH} characters")
        if self.media_node_id is not None and not valid_id(self.media_node_id):
            raise SettingsError(
                "LOKET_MEDIA_NODE_ID is 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        try:
            self.media_udp_port_range()
        except ValueError as exc:
            raise SettingsError(f"LOKET_MEDIA_UDP_PORTS: {exc}") from exc
        if self.media_public_address is not None:
            try:
                ipaddress.ip_address(self.media_public_address)
            except ValueError as exc:
                raise SettingsError("LOKET_MEDIA_PUBLIC_ADDRESS is an IP address, like 203.0.113.7") from exc

    def _check_ice_servers(self) -> None:
        """Browsers refuse the whole RTCPeerConnection over one bad ICE server entry
        (W3C webrtc-pc, "validate an ICE server"), so a bad list must not start at all."""
        for index, server in enumerate(self.ice_servers):
            urls = _urls(server)
            static = server.get("username"), server.get("credential")
            try:
                IceServer(urls=tuple(urls), username=static[0] or "-", credential=static[1] or "-")
            except ValueError as exc:
                raise SettingsError(f"LOKET_ICE_SERVERS[{index}]: {exc}") from exc
            is_turn = any(url.startswith(("turn:", "turns:")) for url in urls)
            if is_turn and not self.turn_secret and not all(static):
                raise SettingsError(
                    f"LOKET_ICE_SERVERS[{index}] is a TURN server: set LOKET_TURN_SECRET "
                    "(coturn use-auth-secret) or give it a username and credential"
                )

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def resolved_secret_key(self) -> str:
        """The signing key. Development without one gets a random key per process: tokens
        then die with the process, which is the honest failure for a missing setting."""
        if not self.secret_key:
            self.secret_key = secrets.token_urlsafe(48)
        return self.secret_key

    def signaling(self) -> SignalingConfig:
        return SignalingConfig(
            secret_key=self.resolved_secret_key(),
            issuer=self.public_url or "loket",
            public_url=self.public_url,
            access_token_seconds=self.access_token_minutes * 60,
            refresh_token_seconds=self.refresh_token_days * 86400,
            visitor_token_seconds=self.visitor_token_minutes * 60,
            ring_timeout_seconds=self.ring_timeout_seconds,
            resume_window_seconds=self.resume_window_seconds,
            lock_timeout_seconds=self.lock_timeout_seconds,
            trusted_proxies=tuple(self.trusted_proxies),
            forwarded_header=self.forwarded_header,
            widget_sessions_installation=RateLimit(self.widget_sessions_per_minute, 60),
            privacy_requests_installation=RateLimit(self.privacy_requests_per_hour, 3600),
            ice_servers=tuple(self.ice_servers),
            turn_secret=self.turn_secret,
        )

    def resolved_master_key(self) -> bytes:
        """The key wrapping every recording's data key. Development without one keeps a
        generated key next to the spool (``master.key``, owner-only), so that restarting
        never makes earlier recordings unreadable; production refuses to start without one."""
        if self.master_key:
            return parse_master_key(self.master_key)
        key_file = self.spool_dir.parent / "master.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
            key_file.chmod(0o600)
            logger.warning("no LOKET_MASTER_KEY: generated a development key in %s", key_file)
        return parse_master_key(key_file.read_text())

    def dpa(self) -> DpaText:
        """The current DPA text: LOKET_DPA_FILE with LOKET_DPA_VERSION, else the bundled template."""
        if self.dpa_file is None:
            return DEFAULT_DPA
        if not self.dpa_version:
            raise SettingsError("LOKET_DPA_FILE needs LOKET_DPA_VERSION (a new text needs a new version)")
        return DpaText.from_file(self.dpa_file, self.dpa_version)

    def installation_keys(self) -> InstallationKeys:
        """The master key from which the keys at rest derive (audit HMAC, privacy keys, ...)."""
        return InstallationKeys(master_key=self.resolved_master_key())

    def recordings(self) -> RecordingsConfig:
        return RecordingsConfig(
            master_key=self.resolved_master_key(),
            storage_url=self.storage_url,
            s3_endpoint_url=self.s3_endpoint_url,
            s3_region=self.s3_region,
            s3_server_side_encryption=self.s3_server_side_encryption,
            spool_dir=self.spool_dir,
        )

    def transcription(self) -> TranscriptionConfig | None:
        """The Whisper settings, or None when this process must not transcribe."""
        if not self.transcription_enabled:
            return None
        return self.whisper()

    def whisper(self) -> TranscriptionConfig:
        """The Whisper settings, whether or not this process transcribes (``loket transcribe``)."""
        models = dict(self.whisper_models or {})
        if self.whisper_model:
            if "*" in models:
                raise SettingsError('set LOKET_WHISPER_MODEL or a "*" in LOKET_WHISPER_MODELS, not both')
            models["*"] = self.whisper_model
        try:
            return TranscriptionConfig(
                models=models or {"*": DEFAULT_MODEL},
                model_dir=self.whisper_model_dir,
                device=self.whisper_device,
                compute_type=self.whisper_compute_type
                or ("float32" if self.whisper_device == "cpu" else "float16"),
                beam_size=self.whisper_beam_size,
            )
        except ValueError as exc:
            raise SettingsError(f"LOKET_WHISPER_*: {exc}") from exc

    def webhooks(self) -> WebhookConfig:
        # Development and tests post to local receivers; production refuses them (SSRF).
        return WebhookConfig(allow_insecure_targets=not self.production)

    def worker(self) -> WorkerConfig:
        """The worker's job schedules and stop grace (validated above, field by field)."""
        return WorkerConfig(
            access_log_purge=Schedule(
                self.access_log_purge_every_seconds, self.access_log_purge_timeout_seconds
            ),
            uploads=Schedule(self.uploads_every_seconds, self.uploads_timeout_seconds),
            retention=Schedule(self.retention_every_seconds, self.retention_timeout_seconds),
            call_data_retention=Schedule(
                self.call_data_retention_every_seconds, self.call_data_retention_timeout_seconds
            ),
            privacy_requests=Schedule(
                self.privacy_requests_every_seconds, self.privacy_requests_timeout_seconds
            ),
            export_expiry=Schedule(self.export_expiry_every_seconds, self.export_expiry_timeout_seconds),
            transcription=Schedule(self.transcription_every_seconds, self.transcription_timeout_seconds),
            webhook_delivery=Schedule(
                self.webhook_delivery_every_seconds, self.webhook_delivery_timeout_seconds
            ),
            stop_grace_seconds=self.worker_stop_grace_seconds,
        )

    def media_udp_port_range(self) -> tuple[int, int] | None:
        """``LOKET_MEDIA_UDP_PORTS`` as (first, last), or None when unset."""
        if not self.media_udp_ports:
            return None
        first, sep, last = self.media_udp_ports.partition("-")
        try:
            low, high = int(first), int(last if sep else first)
        except ValueError as exc:
            raise ValueError("a range of ports, like 40000-40199") from exc
        if not 1024 <= low <= high <= 65535:
            raise ValueError("ports between 1024 and 65535, the first not above the last")
        return low, high

    def cluster(self) -> ClusterConfig:
        """The media cluster's shared settings (Redis, the internal secret); refused with a
        clear message when media nodes are used without ``LOKET_MEDIA_SECRET``."""
        if not self.redis_url:
            raise SettingsError("media nodes share LOKET_REDIS_URL: set it")
        if not self.media_secret:
            raise SettingsError(
                "media nodes sign their internal channel with LOKET_MEDIA_SECRET: set it, the same "
                f"on every node, at least {MIN_MEDIA_SECRET_LENGTH} characters "
                "(or run `loket serve` without LOKET_REDIS_URL for the embedded mode)"
            )
        return ClusterConfig(
            redis_url=self.redis_url, secret=self.media_secret, redis_prefix=self.redis_prefix
        )

    def media_node(self) -> NodeConfig:
        """This process's media node: its id, internal address and spool."""
        node_id = self.media_node_id or socket.gethostname().split(".")[0]
        if not valid_id(node_id):
            raise SettingsError(
                f"the host name {node_id!r} cannot name a media node: set LOKET_MEDIA_NODE_ID"
            )
        shared = self.media_shared_spool
        try:
            return NodeConfig(
                node_id=node_id,
                spool_dir=self.spool_dir if shared is None else shared / node_id,
                bind_host=self.media_bind_host,
                bind_port=self.media_bind_port,
                internal_url=self.media_internal_url,
            )
        except ValueError as exc:
            raise SettingsError(f"LOKET_MEDIA_*: {exc}") from exc

    def media(self) -> MediaConfig:
        allow_private = self.allow_private_candidates
        if allow_private is None:
            allow_private = not self.production
        # The server's own peer connections use the STUN servers only: it has a reachable
        # address of its own, and TURN credentials are per client.
        stun = tuple(
            IceServer(urls=tuple(url for url in _urls(server) if url.startswith(("stun:", "stuns:"))))
            for server in self.ice_servers
            if any(url.startswith(("stun:", "stuns:")) for url in _urls(server))
        )
        return MediaConfig(
            ice_servers=stun,
            allow_private_candidates=allow_private,
            udp_ports=self.media_udp_port_range(),
            public_address=self.media_public_address or None,
        )


def _urls(server: dict[str, Any]) -> list[str]:
    urls = server.get("urls", [])
    return [urls] if isinstance(urls, str) else list(urls)
