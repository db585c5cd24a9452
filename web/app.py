"""The FastAPI application factory; engines and backends are built in lifespan, not at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from booking import reports as booking_reports
from marketplace.clock import utcnow
from marketplace.db import make_engine
from marketplace.jobs.scheduler import Scheduler
from marketplace.resources import reports as library_reports
from marketplace.settings import Settings
from matching import reports as matching_reports
from search.service import BackgroundDrainer, SearchService
from web.admission import AdmissionMiddleware
from web.body_limit import BodyLimitMiddleware
from web.deps import refuse_control_characters
from web.errors import install_error_handlers
from web.jobs import all_jobs
from web.observability import Metrics, RequestLogMiddleware
from web.routes import (
    applications,
    auth,
    bookings,
    centers,
    district_requests,
    experts,
    health,
    matching,
    notifications,
    ops,
    pages_account,
    pages_audit,
    pages_auth,
    pages_availability,
    pages_bookings,
    pages_catalogue,
    pages_centers,
    pages_expert_pool,
    pages_experts,
    pages_home,
    pages_library,
    pages_matching,
    pages_notifications,
    pages_profile,
    pages_reports,
    pages_requests,
    pages_services,
    pages_sessions,
    pages_time_requests,
    pages_users,
    reference,
    reports,
    resources,
    search,
    services,
    time_requests,
    users,
)
from web.security_headers import install_security_headers
from web.sessions import install_sessions

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_DESCRIPTION = "HEART 专家资源库与资源匹配平台 JSON API。所有消息为简体中文。"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (read from the environment when not given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_engine = getattr(app.state, "engine", None) is None
        if owns_engine:
            app.state.engine = make_engine(settings)
        if getattr(app.state, "search", None) is None:
            app.state.search = SearchService(settings=settings, engine=app.state.engine)
        metrics: Metrics = app.state.metrics
        metrics.bind(app.state.engine)
        app.state.search.on_search = metrics.search_latency.observe
        drainer = None
        if settings.search_drain_seconds > 0:
            drainer = BackgroundDrainer(app.state.search, settings.search_drain_seconds).start()
        scheduler = None
        if settings.scheduler_enabled:
            search_service = app.state.search
            scheduler = Scheduler(
                engine=app.state.engine,
                settings=settings,
                specs=all_jobs(lambda: search_service),
                clock=app.state.clock,
                observer=metrics.observe_job,
            ).start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
                app.state.scheduler = None
            if drainer is not None:
                drainer.stop()
            if owns_engine:
                app.state.engine.dispose()
                app.state.engine = None

    app = FastAPI(
        title="heart-hub",
        description=API_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    app.state.engine = None
    app.state.search = None
    app.state.clock = utcnow  # the scheduler's clock (tests move it forward)
    app.state.scheduler = None
    app.state.metrics = Metrics()
    install_error_handlers(app)
    install_sessions(app, settings)
    # Inside the request log (a 503 for a busy server is logged and counted like any answer).
    app.add_middleware(
        AdmissionMiddleware,
        limit=settings.max_concurrent_requests,
        wait_seconds=settings.request_queue_seconds,
    )
    # Outside the form-token middleware (which buffers form bodies) and admission control
    # (which reads a body ahead), inside the security headers (its 413 and 408 carry them).
    app.add_middleware(
        BodyLimitMiddleware,
        pause_seconds=settings.request_body_seconds,
        min_bytes_per_second=settings.request_body_min_kbps * 1024,
        max_seconds=settings.request_body_max_seconds,
    )
    install_security_headers(app)
    # Outermost: the request id and timing cover every other middleware.
    app.add_middleware(RequestLogMiddleware, metrics=app.state.metrics)
    if settings.trusted_proxies.strip():
        # Only these peers' X-Forwarded-For / -Proto are believed (the client address the login
        # throttle counts, https for Secure cookies); `heart serve` turns uvicorn's own off.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    pages = (pages_auth, pages_home, pages_experts, pages_audit, pages_profile, pages_services)
    for module in (*pages, pages_reports, pages_requests, pages_bookings):
        app.include_router(module.router)
    for module in (pages_availability, pages_sessions, pages_matching, pages_library):
        app.include_router(module.router)
    for module in (health, auth, experts, reference, search, bookings):
        app.include_router(module.router)
    for module in (services, applications, reports, resources):
        app.include_router(module.router)
    # Report sections computed by the packages that own their tables (marketplace imports neither).
    booking_reports.register_report_sections()
    matching_reports.register_report_sections()
    library_reports.register_report_sections()
    for module in (
        district_requests,
        matching,
        ops,
        users,
        pages_users,
        pages_catalogue,
        pages_expert_pool,
    ):
        app.include_router(module.router)
    for module in (time_requests, pages_time_requests):
        app.include_router(module.router)
    for module in (notifications, pages_notifications, pages_account, centers, pages_centers):
        app.include_router(module.router)
    return app
