"""`heart serve` and `heart demo`: run the web app (on a fresh demo database for `demo`)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketplace.accounts.models import UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.centers.group import seed_demo_groups
from marketplace.db import make_engine, session_scope
from marketplace.resources.demo import seed_demo_resources
from marketplace.resources.files import store_for
from marketplace.services.demo import seed_demo_services
from marketplace.settings import Settings
from marketplace.vocabulary import Role
from web.cli.common import (
    DEMO_DIR,
    build_search_index,
    console,
    fail,
    initialise,
    load_settings,
    run_import,
)
from web.cli.demo_activity import seed_demo_activity

# uvicorn's supervisor pings each worker and kills one that does not answer within this many
# seconds (default 5). Under saturation on two cores a busy worker's answering thread waited
# longer than 5 s for the interpreter: the supervisor killed healthy workers mid-request (every
# request in flight failed) and each restart loaded the search models again, so the load grew.
# A hung worker is still replaced, after a minute.
WORKER_HEALTHCHECK_SECONDS = 60


def register(app: typer.Typer) -> None:
    app.command("serve", help="启动网页与 API 服务 / serve the web app and API")(serve)
    app.command("demo", help="用演示数据新建数据库并启动服务 / fresh demo database, then serve")(
        demo
    )


def serve(
    host: Annotated[str, typer.Option(help="监听地址 / bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="工作进程数（建议 CPU 核数）/ worker processes (e.g. one per CPU core); "
            "login throttling is shared through the database",
        ),
    ] = 1,
    demo_data: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="再次启动 heart demo 建好的演示数据（HEART_DATA_DIR/demo，不重建）/ serve the "
            "demo's data again (HEART_DATA_DIR/demo, not rebuilt)",
        ),
    ] = False,
) -> None:
    import uvicorn

    from web.app import create_app
    from web.observability import logging_config
    from web.server_protocol import HEAD_BUFFER_BYTES, HeartH11Protocol

    # checked here, so a bad configuration fails before forking
    settings = existing_demo(load_settings(environment="demo")) if demo_data else load_settings()
    if not settings.is_sqlite:
        settings = _share_connections(settings, workers)
    if demo_data:  # worker processes read their settings from the environment
        os.environ.update(
            HEART_ENVIRONMENT="demo",
            HEART_DATA_DIR=str(settings.data_dir),
            HEART_SECRET_KEY=str(settings.secret_key),
        )
    else:
        _point_to_the_demo(settings)
    # Our request log line replaces uvicorn's access log (HEART_LOG_FORMAT=json or text); the
    # connection handler answers what uvicorn refuses itself in Chinese, with time limits.
    logs = {
        "log_config": logging_config(settings.log_format),
        "access_log": False,
        "http": HeartH11Protocol,
        "h11_max_incomplete_event_size": HEAD_BUFFER_BYTES,
    }
    if workers == 1:
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,  # only HEART_TRUSTED_PROXIES are believed (web/app.py)
            **logs,
        )
        return
    # Each worker process builds its app from the same environment (create_app() reads
    # Settings); uvicorn needs an import string to start them. Each runs a scheduler; the
    # lease in the database lets exactly one of them run the jobs. Their Prometheus counters
    # go to files in one directory (emptied now), so /metrics on any worker sums them all.
    metrics_dir = settings.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        **logs,
    )


def _share_connections(settings: Settings, workers: int) -> Settings:
    """Each worker's share of HEART_DB_MAX_CONNECTIONS (PostgreSQL), given to the workers
    through the environment; a budget that cannot fit ends the command before it forks."""
    from marketplace.db import check_connection_budget

    try:
        share = check_connection_budget(settings, workers)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    os.environ["HEART_DB_POOL_CONNECTIONS"] = str(share)
    console.print(
        f"数据库连接：{workers} 个工作进程，每个至多 {share} 个"
        f"（预算 HEART_DB_MAX_CONNECTIONS={settings.db_max_connections}）/ database connections"
        " per worker"
    )
    return settings.model_copy(update={"db_pool_connections": share})


DEMO_SUBDIR = "demo"


def demo_settings(base: Settings) -> Settings:
    """THE demo layout: `heart demo` builds, and `heart serve --demo` serves, a data dir of its
    own, `HEART_DATA_DIR/demo`, so the demo never touches the real data beside it (a demo
    build deletes its SQLite file). Without HEART_SECRET_KEY it signs with a random key
    (logins then last one run)."""
    return base.model_copy(
        update={
            "data_dir": base.data_dir / DEMO_SUBDIR,
            "secret_key": base.secret_key or secrets.token_urlsafe(48),
        }
    )


def existing_demo(base: Settings) -> Settings:
    """The demo's settings, refusing when `heart demo` has not built its data yet."""
    settings = demo_settings(base)
    if settings.database_url is None and not (settings.data_dir / "heart.db").exists():
        raise fail(
            f"{settings.data_dir} 下还没有演示数据：先运行 heart demo / no demo data yet, run "
            "heart demo first",
            2,
        )
    return settings


def _point_to_the_demo(settings: Settings) -> None:
    """Say where the demo's data is when the data dir has none of its own but a demo beside it
    (`heart serve` after `heart demo` would otherwise start an empty hub)."""
    if settings.database_url is not None or (settings.data_dir / "heart.db").exists():
        return
    if (settings.data_dir / DEMO_SUBDIR / "heart.db").exists():
        console.print(
            f"[yellow]{settings.data_dir} 下还没有数据库，将新建一个空的；heart demo 的演示数据在 "
            f"{settings.data_dir / DEMO_SUBDIR}，再次启动它请运行 heart serve --demo[/yellow] / "
            "this data dir has no database yet (a new, empty one is made); to serve the demo's "
            "data again run heart serve --demo"
        )


DEMO_USERS = [
    ("admin", Role.admin, None, None, "系统管理员"),
    ("staff", Role.staff, None, None, "资源中心 王老师"),
    ("beilin", Role.district, "西安市/碑林区", None, "碑林区 协调员"),
    ("expert", Role.expert, None, "D00001", "黎洋馥"),
]
# City centers' accounts and an observer (issue 17). Kept apart from DEMO_USERS, whose accounts
# the demo activity gives history and notices (tests/web/test_demo.py); these have none yet.
DEMO_CENTER_USERS = [
    ("xian", Role.city_staff, None, None, "西安市资源中心 李老师"),
    ("baoji", Role.city_staff, None, None, "宝鸡市资源中心 赵老师"),
    ("observer", Role.observer, None, None, "西安市教育局 张科长"),
]
# The resource center each center account works for (province staff: the province's).
# The observer reads 西安市, where the demo activity happens, so their home shows real items.
DEMO_CENTERS = {"xian": "西安市", "baoji": "宝鸡市", "observer": "西安市"}
DEMO_PASSWORD = "heart-demo-2026"  # noqa: S105 - the printed demo password, demo databases only


def build_demo(settings: Settings) -> None:
    """A fresh demo database: reference data, the 600 dev experts and one user per role."""
    db_file = settings.data_dir / "heart.db"
    if settings.is_sqlite and settings.database_url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    initialise(settings)
    code = run_import(settings, DEMO_DIR / "experts.jsonl", strict=True)
    if code:
        raise fail("演示数据导入失败 / demo import failed")
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            for username, role, district, expert_id, name in DEMO_USERS + DEMO_CENTER_USERS:
                create_user(
                    session=session,
                    data=UserCreate(
                        username=username,
                        password=DEMO_PASSWORD,
                        role=role,
                        district=district,
                        expert_id=expert_id,
                        center=DEMO_CENTERS.get(username),
                        display_name=name,
                    ),
                    user=system_principal("demo"),
                )
            services = seed_demo_services(session=session)
            groups = seed_demo_groups(session=session)
            library = seed_demo_resources(
                session=session,
                source=DEMO_DIR / "resources.jsonl",
                store=store_for(settings.data_dir),
            )
    finally:
        engine.dispose()
    console.print(f"演示采购服务 {services} 项 / demo procured services: {services}")
    console.print(f"市级专家指导组成员 {groups} 位 / demo city expert group members: {groups}")
    console.print(f"演示资料 {library} 份 / demo library resources: {library}")
    build_search_index(settings)
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            activity = seed_demo_activity(session=session, settings=settings, demo_dir=DEMO_DIR)
    finally:
        engine.dispose()
    console.print(
        "演示活动 / demo activity: "
        + "，".join(f"{name} {count}" for name, count in activity.items())
    )
    table = Table(title="演示账号 / demo accounts")
    for column in ("用户名 username", "角色 role", "密码 password", "绑定 bound to"):
        table.add_column(column)
    for username, role, district, expert_id, _ in DEMO_USERS + DEMO_CENTER_USERS:
        bound = district or expert_id or DEMO_CENTERS.get(username, "")
        table.add_row(username, role.value, DEMO_PASSWORD, bound)
    console.print(table)


def demo(
    host: Annotated[str, typer.Option(help="监听地址 / bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只建库不启动 / build only")] = False,
) -> None:
    settings = demo_settings(load_settings(environment="demo"))
    build_demo(settings)
    console.print(
        f"演示数据在 / demo data in {settings.data_dir}；以后再次启动（不重建）/ serve it again "
        "later without rebuilding: heart serve --demo"
    )
    if no_serve:
        return
    import uvicorn

    from web.app import create_app
    from web.server_protocol import HEAD_BUFFER_BYTES, HeartH11Protocol

    console.print(f"打开 / open: http://{host}:{port}/  （API 文档 /docs）")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        http=HeartH11Protocol,
        h11_max_incomplete_event_size=HEAD_BUFFER_BYTES,
    )
