"""Runtime configuration, read from HEART_* environment variables (or passed in by tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "placeholder"}
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEART_", env_file=None, extra="ignore")

    environment: Literal["production", "development", "demo", "test"] = "production"
    data_dir: Path = Path("./data")
    database_url: str | None = None
    secret_key: str = ""
    access_token_minutes: int = Field(default=12 * 60, ge=1, le=7 * 24 * 60)

    # Search (see search/): the embedded index lives under data_dir; Elasticsearch when chosen.
    search_backend: Literal["embedded", "elasticsearch"] = "embedded"
    search_fallback_embedded: bool = True
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_index: str = "heart"
    # Dense encoder (search/encoder.py): "auto" = the Chinese bge-small-zh-v1.5 (fp32, else its
    # int8 variant) when scripts/fetch-models installed it under models_dir, else the
    # bundled English MiniLM.
    embed_model: str = "auto"
    embed_device: str = "cpu"
    models_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "heart-models")
    # Seconds between background drains of the index outbox in `heart serve` (0 = off).
    search_drain_seconds: float = Field(default=2.0, ge=0)
    # Labelled needs ({"text", "specialties"} per line) the need model learns from besides the
    # directory itself; "builtin" = the set derived from the dev requests, "none" = directory only.
    search_training_needs: str = "builtin"
    # Matching (matching/priors.py): specialty counts per service type of labelled requests;
    # "builtin" = derived from the dev requests, a JSON path, or "none".
    match_service_prior: str = "builtin"

    # Resource library files (marketplace/resources): upload limit and text-extraction budget.
    resource_max_mb: float = Field(default=20.0, gt=0, le=500)
    resource_extract_seconds: float = Field(default=10.0, gt=0, le=300)
    # A virus scanner reading each upload on standard input (exit 0 clean, 1 infected); empty:
    # no scan. Uploads are refused while a configured scanner fails or overruns its time limit.
    antivirus_command: str = ""
    antivirus_seconds: float = Field(default=30.0, gt=0, le=600)

    # Mail (booking notifications); empty host means "queue only".
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = "heart-hub@localhost"
    # Where users open the hub: links in mail point here.
    public_url: str = "http://localhost:8000"
    # The domain after "@" in the UIDs of new sessions' calendar events (RFC 5545 asks for a
    # domain the hub controls); empty: the host of public_url.
    calendar_uid_domain: str = Field(default="", max_length=200)
    # Comma-separated host names of internal calendar servers that busy-calendar feeds may use
    # (on-premise deployments); every other feed must resolve to public addresses only.
    calendar_allowed_hosts: str = ""

    # Web pages (web/sessions.py): server-side login sessions behind a signed cookie, and the
    # login throttle (failures per username at an address, per username and per client
    # address, counted in the database so that every worker process shares them;
    # marketplace/login_sessions/throttle.py).
    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=30 * 24)
    # Failed logins of one username from one client address before that address waits for it.
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    # Failed logins of one username from all addresses before it waits at addresses it has
    # never logged in from (where the user has logged in before, this limit does not apply).
    login_max_failures_per_user: int = Field(default=20, ge=1, le=100_000)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Failed logins from one client address (any usernames) before it waits too; higher than
    # the per-username limit because a school's NAT puts many people behind one address.
    login_max_failures_per_address: int = Field(default=30, ge=1, le=100_000)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or CIDRs, e.g. "10.0.0.5,172.16.0.0/12"); empty: none, the peer is the client.
    trusted_proxies: str = ""
    # Requests one process works on at once (web/admission.py); more wait, holding no worker
    # thread and no database connection, up to request_queue_seconds, then get 503. Below
    # anyio's 40 worker threads and the connection pool, so /api/health always finds both.
    max_concurrent_requests: int = Field(default=24, ge=1, le=1000)
    request_queue_seconds: float = Field(default=10.0, gt=0, le=300)
    # PostgreSQL connections (marketplace/db.py): every process of this hub that serves
    # requests (`heart serve --workers N`) shares db_max_connections; each gets an equal share,
    # at most DB_PROCESS_CONNECTIONS (50). Keep it below the server's max_connections minus its
    # reserved ones, `heart worker` and CLI commands (a few each) and psql. db_pool_connections
    # is one process's share; `heart serve` sets it for its workers (HEART_DB_POOL_CONNECTIONS).
    db_max_connections: int = Field(default=80, ge=1, le=10_000)
    db_pool_connections: int | None = Field(default=None, ge=1, le=10_000)
    # How long a request waits for a free connection of its process's share before 503 busy.
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Slow clients (web/server_protocol.py, web/body_limit.py): a request's line and headers
    # must arrive within request_head_seconds (else 408 and the connection is closed); its body
    # may pause at most request_body_seconds between bytes and must arrive within that plus
    # its size at request_body_min_kbps (KB/s), else 408: a client trickling a body holds
    # neither an admission place nor a worker for longer than that.
    request_head_seconds: float = Field(default=10.0, gt=0, le=300)
    request_body_seconds: float = Field(default=15.0, gt=0, le=300)
    request_body_min_kbps: float = Field(default=16.0, gt=0, le=100_000)
    # Whatever its size and pace, a body must arrive within this many seconds (else 408): at
    # the minimum rate alone a 21 MB upload could take 22 minutes, holding an admission place
    # all along. 180 s lets a 20 MB file through a link of ~1 Mbit/s.
    request_body_max_seconds: float = Field(default=180.0, gt=0, le=3600)

    # Operations (marketplace/jobs, web/observability.py): the in-process scheduler runs the
    # periodic jobs in whichever process holds the lease; a holder that stops renewing loses it
    # after scheduler_lease_seconds. scheduler_intervals overrides job periods in seconds
    # ({"crisis_escalation": 30}); /api/health answers 503 once a job is this late.
    scheduler_enabled: bool = True
    scheduler_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    scheduler_poll_seconds: float = Field(default=5.0, gt=0, le=600)
    scheduler_intervals: dict[str, float] = Field(default_factory=dict)
    health_job_grace_minutes: float = Field(default=10.0, gt=0)
    # /metrics: open to these client networks, or to anyone presenting the token as a bearer.
    metrics_networks: str = "127.0.0.1/8,::1/128"
    metrics_token: str = ""
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _poll_within_lease(self) -> Settings:
        if self.scheduler_poll_seconds * 2 > self.scheduler_lease_seconds:
            raise ValueError(
                "HEART_SCHEDULER_POLL_SECONDS 应不超过 HEART_SCHEDULER_LEASE_SECONDS 的一半"
                "（否则租约会在续期前过期）"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment in ("production", "development"):
            if (
                self.secret_key.strip().lower() in PLACEHOLDER_SECRETS
                or len(self.secret_key) < MIN_SECRET_LENGTH
            ):
                raise ValueError(
                    "HEART_SECRET_KEY 未设置或过于简单（至少 32 个字符）；"
                    "请设置随机密钥，例如 python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'heart.db').resolve()}"

    @property
    def uid_domain(self) -> str:
        """The domain of new calendar UIDs: calendar_uid_domain, else public_url's host."""
        from urllib.parse import urlsplit  # noqa: PLC0415

        return self.calendar_uid_domain.strip() or urlsplit(self.public_url).hostname or "localhost"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def search_dir(self) -> Path:
        return self.data_dir / "search"
