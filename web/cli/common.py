"""What every `heart` command module shares: settings, the console, errors, progress bars and
the set-up steps several commands run (initialise, import, index). Command modules import this
module and never each other."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketplace.accounts.principal import system_principal
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.districts.service import seed_regions
from marketplace.experts.importing import import_experts
from marketplace.settings import Settings
from marketplace.specialties.service import seed_specialties

console = Console(stderr=True)
DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "demo"
# The CLI acts as the system principal; the audit log names it "cli".
CLI = system_principal("cli")


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
                session=session, lines=lines, user=CLI, strict=strict, progress=advance
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
