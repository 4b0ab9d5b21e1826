"""Settings: environment variables ``SEADRAGON_*`` and an optional TOML config file.

Precedence, highest first: environment, the file named by ``SEADRAGON_CONFIG``
(or ``./seadragon.toml`` when present), the defaults below. A malformed value stops
start-up with a message that names the setting (see ``load_settings``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from seadragon.errors import ConfigError

BAND_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class BackendConfig(BaseModel):
    """One place tokens come from."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: str = Field(pattern=r"^https?://")
    kind: Literal["ollama", "openai"] = "ollama"
    slots: int = Field(default=1, ge=1, le=256)
    #: Models served; empty means "discover from the backend and refresh".
    models: list[str] = Field(default_factory=list)
    #: Bearer token sent to an ``openai``-kind backend, if it wants one.
    api_key: str | None = None


class ModelOptions(BaseModel):
    """Per-model defaults merged into requests sent to Ollama."""

    num_gpu: int | None = None
    num_thread: int | None = None
    num_ctx: int | None = None
    keep_alive: str | None = None


class Settings(BaseSettings):
    """Every setting Seadragon reads; the README's configuration reference mirrors this."""

    model_config = SettingsConfigDict(
        env_prefix="SEADRAGON_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=512)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Reverse proxies whose X-Forwarded-For / -Proto are believed (addresses, networks, "*").
    #: None by default: anything on the gateway's own host could otherwise forge them.
    trusted_proxies: list[str] = Field(default_factory=list)
    #: Limits and deadlines on what a client sends, before any route reads it.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_headers: int = Field(default=100, ge=10)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    max_public_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_inflight_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    #: On SIGTERM: queued requests get 503 at once, running ones this long to finish.
    shutdown_grace_s: float = Field(default=10.0, gt=0)
    #: Largest inline image (decoded bytes) a request may carry; the body limit caps it too.
    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: Log lines (one per finished request included) as text or one JSON object each.
    log_format: Literal["text", "json"] = "text"
    #: Count requests for Prometheus (``/metrics`` answers 404 when off).
    metrics_enabled: bool = True
    #: Bearer token Prometheus may present at /metrics instead of an admin key.
    metrics_token: str = ""
    #: Where ``seadragon worker`` serves its own /metrics (port 0: no listener).
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    #: Request-log rows older than this are removed in the background (0: keep forever).
    request_log_retention_days: int = Field(default=90, ge=0, le=36500)
    #: Hosts whose http(s) image URLs the gateway fetches itself (none: remote URLs are 400).
    image_fetch_hosts: list[str] = Field(default_factory=list)
    image_fetch_timeout_s: float = Field(default=5.0, gt=0, le=60)

    # Auth
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    secure_cookies: bool = False
    key_cache_ttl_s: float = Field(default=5.0, ge=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=300, ge=1)
    #: Per account from any address: past this many failures in the window, sign-in to
    #: the account is slowed to one attempt per ``login_account_delay_s`` (never locked).
    login_account_max_failures: int = Field(default=10, ge=1)
    login_account_window_s: int = Field(default=3600, ge=1)
    login_account_delay_s: float = Field(default=30.0, ge=0)
    allow_anonymous: bool = False
    #: Where limit counters live: auto = in this process with the memory queue (one
    #: gateway), in the database with RabbitMQ (every gateway shares them).
    limits_store: Literal["auto", "memory", "database"] = "auto"

    # Queue
    queue: Literal["memory", "rabbitmq"] = "memory"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    #: Prefix of every exchange and queue name, so several deployments can share a broker.
    rabbitmq_namespace: str = Field(default="seadragon", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    rabbitmq_quorum: bool = False
    rabbitmq_delivery_limit: int = Field(default=3, ge=1)
    #: Longest a submit waits for the broker (declares, depths, the confirm) before a 503.
    rabbitmq_submit_timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: Shard queues per model and band that fair share spreads users over (1: one FIFO
    #: queue per model and band). See docs/architecture.md, "Fair share in RabbitMQ mode".
    rabbitmq_fair_shards: int = Field(default=4, ge=1, le=32)
    bands: list[str] = Field(default_factory=lambda: ["high", "normal", "low"])
    api_key_default_band: str = "high"
    web_band: str = "low"
    aging_interval_s: float = Field(default=15.0, gt=0)
    #: Per-band override of ``aging_interval_s``: time in that band before moving up one.
    aging_intervals: dict[str, float] = Field(default_factory=dict)
    max_queue_depth: int = Field(default=1000, ge=1)
    max_queue_depths: dict[str, int] = Field(default_factory=dict)
    max_queue_wait_s: float = Field(default=300.0, gt=0)
    #: Who shares a band fairly: users (``user``; keys of no user count apart), API keys
    #: (``key``), or nobody (``off``: FIFO inside a band). See docs/architecture.md.
    fair_share: Literal["user", "key", "off"] = "user"
    #: Fair-share weight by user id (or key id with ``fair_share = "key"``); default 1.
    fair_share_weights: dict[str, PositiveFloat] = Field(default_factory=dict)
    #: Among free slots, hand a request to one whose backend has its model loaded
    #: (in-process queue; docs/architecture.md, "Model affinity").
    model_affinity: bool = True
    request_timeout_s: float = Field(default=600.0, gt=0)
    #: Run backend workers inside ``seadragon serve``: auto = yes for the memory queue only.
    serve_workers: Literal["auto", "on", "off"] = "auto"

    # Backends
    ollama_url: str | None = None
    backends: list[BackendConfig] = Field(default_factory=list)
    local_model: Literal["auto", "on", "off"] = "auto"
    #: 0: any free port, chosen at start (a stale server can never block it).
    local_model_port: int = Field(default=0, ge=0, le=65535)
    local_model_slots: int = Field(default=1, ge=1, le=16)
    #: The key the local model server demands; empty: a random one only this process knows.
    local_model_api_key: str = ""
    model_refresh_s: float = Field(default=30.0, gt=0)
    model_options: dict[str, ModelOptions] = Field(default_factory=dict)
    #: A model served within this window whose backends are all down now is a 503, not a 404.
    model_down_window_s: float = Field(default=600.0, ge=0)
    #: The model a new web chat starts with (when served); unset: the most used one.
    default_model: str | None = None
    #: Registry hosts besides Ollama's own that admins may pull from and push to (``hf.co``).
    model_registries: list[str] = Field(default_factory=list)

    @field_validator("bands")
    @classmethod
    def _bands_valid(cls, bands: list[str]) -> list[str]:
        if not bands or len(set(bands)) != len(bands):
            raise ValueError("bands must be a non-empty list of distinct names")
        for band in bands:
            if not BAND_NAME.match(band):
                raise ValueError(f"band name {band!r} must match {BAND_NAME.pattern}")
        return bands

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_valid(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            if proxy != "*":
                try:
                    ipaddress.ip_network(proxy)
                except ValueError:
                    raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies

    @field_validator("ollama_url")
    @classmethod
    def _url_valid(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _bands_known(self) -> Settings:
        for field in ("api_key_default_band", "web_band"):
            if getattr(self, field) not in self.bands:
                raise ValueError(f"{field}: {getattr(self, field)!r} is not one of {self.bands}")
        for field in ("aging_intervals", "max_queue_depths"):
            for band, value in getattr(self, field).items():
                if band not in self.bands:
                    raise ValueError(f"{field}: unknown band {band!r}")
                if value <= 0:
                    raise ValueError(f"{field}: {band} must be > 0")
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("backends: names must be distinct")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # Derived values -----------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'seadragon.db'}"

    @property
    def embedded_workers(self) -> bool:
        if self.serve_workers == "auto":
            return self.queue == "memory"
        return self.serve_workers == "on"

    @property
    def shared_limits(self) -> bool:
        if self.limits_store == "auto":
            return self.queue == "rabbitmq"
        return self.limits_store == "database"

    def aging_interval(self, band: str) -> float:
        return self.aging_intervals.get(band, self.aging_interval_s)

    def max_depth(self, band: str) -> int:
        return self.max_queue_depths.get(band, self.max_queue_depth)


def config_file_path() -> Path | None:
    named = os.environ.get("SEADRAGON_CONFIG")
    if named:
        return Path(named)
    default = Path("seadragon.toml")
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any validation failure into a ``ConfigError`` naming the setting."""
    path = config_file_path()
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"SEADRAGON_CONFIG: no such file: {path}")
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else "settings"
        raise ConfigError(
            f"invalid configuration:\n  {field} (SEADRAGON_{field.upper()}): "
            "not valid JSON for this setting"
        ) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "SEADRAGON_" + str(err["loc"][0]).upper() if err["loc"] else "settings"
            problems.append(f"{where} ({env}): {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (never at import time)."""
    return load_settings()
