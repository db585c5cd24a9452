"""The `heart` command line (Typer). Help is Chinese first, English second."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from marketplace.accounts.models import UserCreate
from marketplace.accounts.service import create_user
from marketplace.audit.service import Actor
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.districts.service import seed_regions
from marketplace.errors import DomainError
from marketplace.experts.importing import import_experts
from marketplace.experts.service import export_records
from marketplace.services.demo import seed_demo_services
from marketplace.settings import Settings
from marketplace.specialties.service import seed_specialties
from marketplace.vocabulary import Role

app = typer.Typer(
    help="HEART 专家资源库 / HEART expert hub",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
import_app = typer.Typer(help="导入 / import records", no_args_is_help=True)
export_app = typer.Typer(help="导出 / export records", no_args_is_help=True)
users_app = typer.Typer(help="用户 / users", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(users_app, name="users")

console = Console(stderr=True)
DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
CLI_ACTOR = Actor.system("cli")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a configuration error ends the command with exit code 2."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"[red]配置错误 / configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]错误 / error:[/red] {message}")
    return typer.Exit(code)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def initialise(settings: Settings) -> None:
    """Migrate the schema and seed the region tree and the specialty vocabulary."""
    engine = make_engine(settings)
    try:
        run_migrations(engine)
        with session_scope(engine) as session:
            districts = seed_regions(session=session)
            specialties = seed_specialties(session=session)
    finally:
        engine.dispose()
    console.print(f"数据库已就绪 / database ready（新增区县 {districts}，新增专长 {specialties}）")


@app.command(
    "init",
    help="初始化数据库：迁移并写入地区与专长词表 / create or upgrade the database and seed reference data",
)
def init_command() -> None:
    initialise(load_settings())


@db_app.command("upgrade", help="升级数据库结构 / apply schema migrations")
def db_upgrade() -> None:
    settings = load_settings()
    engine = make_engine(settings)
    try:
        run_migrations(engine)
    finally:
        engine.dispose()
    console.print("数据库结构已是最新 / schema up to date")


def run_import(settings: Settings, path: Path, *, strict: bool) -> int:
    """Import experts from a JSONL file, printing a report; returns the exit code."""
    if str(path) != "-" and not path.is_file():
        raise fail(f"找不到文件 / file not found: {path}", 2)
    try:
        lines = (
            sys.stdin.read().splitlines()
            if str(path) == "-"
            else path.read_text(encoding="utf-8").splitlines()
        )
    except UnicodeDecodeError:
        raise fail("文件不是 UTF-8 编码 / file is not UTF-8", 2) from None
    engine = make_engine(settings)
    try:
        with progress_bar() as progress, session_scope(engine) as session:
            task = progress.add_task("导入专家 / importing", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = import_experts(
                session=session, lines=lines, actor=CLI_ACTOR, strict=strict, progress=advance
            )
    finally:
        engine.dispose()
    for error in report.errors:
        who = f"（{error.expert_id}）" if error.expert_id else ""
        console.print(f"[yellow]第 {error.line} 行{who}：[/yellow]{error.reason}")
    if not report.written:
        console.print(
            f"[red]--strict：有 {len(report.errors)} 行无效，未导入任何记录 / nothing imported[/red]"
        )
        return 1
    console.print(
        f"新增 {report.created} · 更新 {report.updated} · 未变 {report.unchanged} · 拒绝 {len(report.errors)}"
        f" / created {report.created}, updated {report.updated}, unchanged {report.unchanged}, rejected {len(report.errors)}"
    )
    return 1 if report.errors else 0


@import_app.command(
    "experts",
    help="从 JSONL 导入专家（按 id 幂等更新）/ import experts from JSONL (idempotent upsert by id)",
)
def import_experts_command(
    file: Annotated[
        Path, typer.Argument(help="JSONL 文件，- 表示标准输入 / JSONL file, - for stdin")
    ],
    strict: Annotated[
        bool,
        typer.Option("--strict", help="任一行无效则不导入 / import nothing if any line is bad"),
    ] = False,
) -> None:
    raise typer.Exit(run_import(load_settings(), file, strict=strict))


@export_app.command(
    "experts",
    help="导出专家为 JSONL（与导入格式一致）/ export experts as JSONL in the import format",
)
def export_experts_command(
    file: Annotated[
        str, typer.Argument(help="输出文件，- 表示标准输出 / output file, - for stdout")
    ] = "-",
) -> None:
    settings = load_settings()
    engine = make_engine(settings)
    out = sys.stdout if file == "-" else open(file, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        with session_scope(engine) as session:
            for record in export_records(session=session):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
    finally:
        if out is not sys.stdout:
            out.close()
        engine.dispose()
    console.print(f"已导出 {count} 位专家 / exported {count} experts")


@users_app.command("create", help="创建用户 / create a user")
def users_create(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    role: Annotated[Role, typer.Option("--role", help="角色 / role")],
    password: Annotated[
        str, typer.Option("--password", help="密码（至少 8 位，含字母和数字）/ password")
    ],
    district: Annotated[
        str | None, typer.Option("--district", help="区县（区县协调员必填），如 西安市/碑林区")
    ] = None,
    expert_id: Annotated[
        str | None, typer.Option("--expert-id", help="专家编号（专家账号必填）")
    ] = None,
    display_name: Annotated[str, typer.Option("--display-name", help="显示名 / display name")] = "",
) -> None:
    settings = load_settings()
    engine = make_engine(settings)
    try:
        data = UserCreate(
            username=username,
            password=password,
            role=role,
            district=district,
            expert_id=expert_id,
            display_name=display_name,
        )
        with session_scope(engine) as session:
            user = create_user(session=session, data=data, actor=CLI_ACTOR)
            console.print(f"已创建用户 {user.username}（{user.role}）/ user created")
    except DomainError as exc:
        raise fail(exc.message) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()


@app.command("serve", help="启动网页与 API 服务 / serve the web app and API")
def serve(
    host: Annotated[str, typer.Option(help="监听地址 / bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="工作进程数（建议 CPU 核数）/ worker processes (e.g. one per CPU core); "
            "login throttling then counts per process",
        ),
    ] = 1,
) -> None:
    import uvicorn

    from web.app import create_app
    from web.observability import logging_config

    settings = load_settings()  # checked here, so a bad configuration fails before forking
    # Our request log line replaces uvicorn's access log (HEART_LOG_FORMAT=json or text).
    logs = {"log_config": logging_config(settings.log_format), "access_log": False}
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", **logs)
        return
    # Each worker process builds its app from the same environment (create_app() reads
    # Settings); uvicorn needs an import string to start them. Each runs a scheduler; the
    # lease in the database lets exactly one of them run the jobs.
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        **logs,
    )


DEMO_USERS = [
    ("admin", Role.admin, None, None, "系统管理员"),
    ("staff", Role.staff, None, None, "资源中心 王老师"),
    ("beilin", Role.district, "西安市/碑林区", None, "碑林区 协调员"),
    ("expert", Role.expert, None, "D00001", "专家 D00001"),
]
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
            for username, role, district, expert_id, name in DEMO_USERS:
                create_user(
                    session=session,
                    data=UserCreate(
                        username=username,
                        password=DEMO_PASSWORD,
                        role=role,
                        district=district,
                        expert_id=expert_id,
                        display_name=name,
                    ),
                    actor=Actor.system("demo"),
                )
            services = seed_demo_services(session=session)
    finally:
        engine.dispose()
    console.print(f"演示采购服务 {services} 项 / demo procured services: {services}")
    build_search_index(settings)
    table = Table(title="演示账号 / demo accounts")
    for column in ("用户名 username", "角色 role", "密码 password", "绑定 bound to"):
        table.add_column(column)
    for username, role, district, expert_id, _ in DEMO_USERS:
        table.add_row(username, role.value, DEMO_PASSWORD, district or expert_id or "")
    console.print(table)


def build_search_index(settings: Settings) -> None:
    """Train the need model and build the search index from the database, with a progress bar."""
    from search.service import SearchService

    engine = make_engine(settings)
    try:
        with progress_bar() as progress:
            task = progress.add_task("建立搜索索引 / building the search index", total=None)
            result = SearchService(settings=settings, engine=engine).rebuild(
                lambda done, total: progress.update(task, completed=done, total=total)
            )
    finally:
        engine.dispose()
    console.print(f"搜索索引已就绪 / search index ready（权重 / weights {result['weights']}）")


@app.command("demo", help="用演示数据新建数据库并启动服务 / fresh demo database, then serve")
def demo(
    host: Annotated[str, typer.Option(help="监听地址 / bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只建库不启动 / build only")] = False,
) -> None:
    base = load_settings(environment="demo")
    settings = base.model_copy(
        update={
            "data_dir": base.data_dir / "demo",
            "secret_key": base.secret_key or secrets.token_urlsafe(48),
        }
    )
    build_demo(settings)
    if no_serve:
        return
    import uvicorn

    from web.app import create_app

    console.print(f"打开 / open: http://{host}:{port}/  （API 文档 /docs）")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _register_search_commands() -> None:
    from web.cli_search import eval_app, index_command, search_command

    app.command("index", help="索引：同步或重建搜索索引 / sync or rebuild the search index")(
        index_command
    )
    app.command("search", help="搜索专家与服务 / search experts and services")(search_command)
    app.add_typer(eval_app, name="eval")


_register_search_commands()


def _register_match_commands() -> None:
    from web.cli_match import match_command

    app.command("match", help="批量匹配申请与专家 / match district requests to experts")(
        match_command
    )


_register_match_commands()


def _register_booking_commands() -> None:
    from web.cli_booking import booking_app

    app.add_typer(booking_app, name="booking")


_register_booking_commands()


def _register_ops_commands() -> None:
    from web.cli_ops import backup_command, restore_command

    app.command("backup", help="备份整个数据库 / back up the whole database")(backup_command)
    app.command(
        "restore", help="从备份恢复数据库并重建搜索索引 / restore a backup, rebuild search"
    )(restore_command)


_register_ops_commands()


def _register_worker_command() -> None:
    from web.cli_worker import worker_command

    app.command(
        "worker",
        help="运行定时任务（危机升级、邮件、索引同步、提醒、过期登记等）/ run the scheduled jobs",
    )(worker_command)


_register_worker_command()


def _register_services_commands() -> None:
    from web.cli_services import services_app

    app.add_typer(services_app, name="services")


_register_services_commands()


if __name__ == "__main__":
    app()
