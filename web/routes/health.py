"""Liveness and readiness: the database, the search backend, the scheduled jobs, the outboxes;
and the Prometheus scrape endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from marketplace import messages
from marketplace.db import current_revisions
from marketplace.errors import Forbidden
from marketplace.jobs.service import current_lease, job_health
from web.deps import PUBLIC_ROUTE
from web.observability import metrics_allowed, outbox_depths

router = APIRouter(tags=["health"])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@router.get("/api/health", summary="健康检查 / health", dependencies=[PUBLIC_ROUTE])
def health(request: Request) -> JSONResponse:
    """200 when the database is reachable and migrated and no scheduled job is overdue; 503
    otherwise. To monitoring (the clients /metrics admits) it also reports the search backend,
    each job's last success, last error and lag, the outbox depths and which process holds the
    scheduler lease; anyone else gets the verdict alone (job errors carry exception text, the
    lease holder names the host and process)."""
    engine = request.app.state.engine
    settings = request.app.state.settings
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        migrated = bool(current_revisions(engine))
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    if not migrated:
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
    now = request.app.state.clock()
    grace = timedelta(minutes=settings.health_job_grace_minutes)
    try:
        with Session(engine) as session:
            jobs = job_health(session=session, now=now, grace=grace)
            lease = current_lease(session=session)
        depths = outbox_depths(engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    search = request.app.state.search
    search_report = {
        "backend": settings.search_backend,
        "ok": bool(search and search.backend.ping()),
    }
    if search is not None and search.fallback is not None:
        search_report["fallback_ok"] = search.fallback.ping()
    scheduler = request.app.state.scheduler
    overdue = [j.name for j in jobs if j.overdue]
    failing = [
        j.name
        for j in jobs
        if j.last_error_at and (j.last_success_at is None or j.last_error_at > j.last_success_at)
    ]
    status = (
        "unavailable" if overdue else ("degraded" if failing or not search_report["ok"] else "ok")
    )
    body = {
        "status": status,
        "database": "ok",
        "search": search_report,
        "outbox": depths,
        "scheduler": {
            "enabled_here": scheduler is not None,
            "holder": lease.holder if lease else None,
            "held_here": bool(scheduler and scheduler.holding),
            "lease_expires_at": _iso(lease.expires_at) if lease else None,
        },
        "jobs": [
            {
                "name": j.name,
                "label": messages.JOB_LABELS.get(j.name, j.name),
                "last_success_at": _iso(j.last_success_at),
                "last_error_at": _iso(j.last_error_at),
                "last_error": j.last_error,
                "next_run_at": _iso(j.next_run_at),
                "lag_seconds": round(j.lag_seconds, 1),
                "overdue": j.overdue,
            }
            for j in jobs
        ],
        "overdue_jobs": overdue,
    }
    if not _monitoring(request):
        body = {"status": status, "database": "ok"}
    return JSONResponse(body, status_code=503 if overdue else 200)


def _monitoring(request: Request) -> bool:
    settings = request.app.state.settings
    return metrics_allowed(
        request.client.host if request.client else None,
        request.headers.get("authorization", ""),
        networks=settings.metrics_networks,
        token=settings.metrics_token,
    )


@router.get(
    "/metrics",
    summary="Prometheus 监控指标 / metrics",
    include_in_schema=False,
    dependencies=[PUBLIC_ROUTE],
)
def metrics(request: Request) -> Response:
    """Prometheus text format; open to HEART_METRICS_NETWORKS or a HEART_METRICS_TOKEN bearer."""
    if not _monitoring(request):
        raise Forbidden(messages.METRICS_FORBIDDEN)
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
