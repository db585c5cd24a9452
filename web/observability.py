"""Request logs, Prometheus metrics and the per-request id.

Every request gets an id (the caller's `X-Request-ID` when it is a sane token, else a new one),
echoed in the response and in the request's log line: method, route template (never the raw
path or query string, which can carry names or search text about students), status, duration,
and the user id when the request was authenticated. With HEART_LOG_FORMAT=json the lines are
JSON objects; otherwise plain text.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import secrets
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking.jobs import pending_mail
from marketplace.clock import utcnow
from marketplace.login_sessions.models import LoginSession
from marketplace.outbox.models import IndexOutbox

log = logging.getLogger("heart.http")
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Attributes every LogRecord has; anything else was passed in `extra` and goes into the JSON.
# (uvicorn adds color_message, a copy of the message with terminal colours)
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines, with the extra fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = [
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _RECORD_FIELDS and not k.startswith("_")
        ]
        return f"{text} {' '.join(extra)}" if extra else text


def logging_config(log_format: str) -> dict:
    """A logging.config dict sending the app's and uvicorn's logs to stderr in `log_format`.

    uvicorn's access log is switched off: the request log line above replaces it and names the
    route template instead of the raw path and query string.
    """
    formatter = (
        "web.observability.JsonFormatter"
        if log_format == "json"
        else ("web.observability.TextFormatter")
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"heart": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "heart",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": "INFO"},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": "INFO"},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }


class Metrics:
    """The app's Prometheus registry (one per app, so several apps in one process never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "heart_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "heart_http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_runs = Counter(
            "heart_job_runs",
            "Scheduled job runs in this process by job and outcome",
            ["job", "status"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "heart_job_duration_seconds",
            "Scheduled job duration by job",
            ["job"],
            buckets=LATENCY_BUCKETS + (60, 300, 900),
            registry=self.registry,
        )
        self.search_latency = Histogram(
            "heart_search_duration_seconds",
            "Search service latency (retrieval, fusion, facets, snippets)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._engine: Engine | None = None
        self._database = _DatabaseCollector(self)
        self.registry.register(self._database)
        # `heart serve --workers N` sets this before the workers start: each process writes its
        # counters to files there and a scrape, answered by any one worker, sums them all.
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

    def exposition(self) -> bytes:
        """The scrape body: this process's metrics, or every worker's in multiprocess mode."""
        registry = self.registry
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            registry.register(self._database)
        return generate_latest(registry)

    def bind(self, engine: Engine | None) -> None:
        """The database the scrape-time gauges (outboxes, sessions) are read from."""
        self._engine = engine

    def observe_job(self, job: str, status: str, seconds: float) -> None:
        self.job_runs.labels(job=job, status=status).inc()
        self.job_duration.labels(job=job).observe(seconds)


class _DatabaseCollector:
    """Gauges read from the database at scrape time: outbox depths and active login sessions."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list:
        return []

    def collect(self):  # type: ignore[no-untyped-def]
        engine = self.metrics._engine
        if engine is None:
            return
        try:
            depths = outbox_depths(engine)
            active = active_sessions(engine)
        except Exception:  # a scrape must not fail because the database is down
            log.warning("metrics: database gauges unavailable")
            return
        outbox = GaugeMetricFamily(
            "heart_outbox_depth", "Pending rows in each outbox", labels=["outbox"]
        )
        for name, depth in depths.items():
            outbox.add_metric([name], depth)
        yield outbox
        yield GaugeMetricFamily(
            "heart_active_login_sessions", "Login sessions neither expired nor revoked", active
        )


def outbox_depths(engine: Engine) -> dict[str, int]:
    """Pending rows of the search outbox and of the mail outbox."""
    with Session(engine) as session:
        search = session.exec(
            select(func.count())
            .select_from(IndexOutbox)
            .where(col(IndexOutbox.processed_at).is_(None))
        ).one()
        return {"search": search, "mail": pending_mail(session)}


def active_sessions(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(LoginSession)
            .where(col(LoginSession.revoked_at).is_(None))
            .where(col(LoginSession.expires_at) > utcnow())
        ).one()


def metrics_allowed(
    client_host: str | None, authorization: str, *, networks: str, token: str
) -> bool:
    """Whether a /metrics request may read: bearer token, or a client in the allowed networks."""
    if token and secrets.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    if not client_host:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    for network in filter(None, (n.strip() for n in networks.split(","))):
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


class RequestLogMiddleware:
    """Request id, one log line and the request metrics per HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(seconds)
            state = scope.get("state") or {}
            log.info(
                "%s %s %s %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "request_id": request_id,
                    "user_id": state.get("user_id"),
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label set), or a fixed word when none."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    if scope.get("path", "").startswith("/static/"):
        return "/static"
    return "<unmatched>"
