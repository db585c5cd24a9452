"""`heart backup FILE` and `heart restore FILE`: whole-database copies; restore rebuilds search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from marketplace.backup import backup_database, restore_database
from marketplace.db import make_engine
from marketplace.errors import DomainError
from marketplace.resources.files import store_for
from web.cli.common import fail, load_settings, progress_bar

console = Console(stderr=True)


def files_dir_of(backup: Path) -> Path:
    """Where the resource library's files are copied beside a backup file."""
    return backup.with_name(backup.name + ".files")


def backup_command(
    file: Annotated[Path, typer.Argument(help="备份文件 / backup file")],
) -> None:
    """Back up the whole database (SQLite online backup API, or pg_dump -Fc) and the library's
    files (into FILE.files/ beside it)."""

    settings = load_settings()
    engine = make_engine(settings)
    try:
        report = backup_database(engine=engine, target=file)
    except DomainError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()
    copied = store_for(settings.data_dir).copy_to(files_dir_of(file))
    console.print(
        f"已备份 {report.tables} 张表、{report.rows} 行到 {report.path}（{report.bytes} 字节），"
        f"资料文件 {copied} 个 / backed up {report.rows} rows of {report.tables} tables"
        f" and {copied} library files"
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="备份文件 / backup file")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="不再确认 / do not ask")] = False,
    skip_index: Annotated[
        bool, typer.Option("--skip-index", help="不重建搜索索引 / leave the search index as is")
    ] = False,
) -> None:
    """Replace the database with a backup (stop `heart serve` first), then rebuild search."""

    settings = load_settings()
    if not yes:
        typer.confirm(
            "恢复将覆盖当前数据库的全部数据，继续吗？/ restore overwrites every record. Continue?",
            abort=True,
        )
    engine = make_engine(settings)
    try:
        report = restore_database(engine=engine, source=file)
        files = files_dir_of(file)
        restored = store_for(settings.data_dir).restore_from(files) if files.is_dir() else 0
        console.print(
            f"已恢复 {report.tables} 张表、{report.rows} 行，资料文件 {restored} 个"
            f" / restored {report.rows} rows and {restored} library files"
        )
        if not skip_index:
            from search.service import SearchService

            with progress_bar() as progress:
                task = progress.add_task("重建搜索索引 / rebuilding search", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                SearchService(settings=settings, engine=engine).rebuild(progress=advance)
            console.print("搜索索引已重建 / search index rebuilt")
    except DomainError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("backup", help="备份整个数据库 / back up the whole database")(backup_command)
    app.command(
        "restore", help="从备份恢复数据库并重建搜索索引 / restore a backup, rebuild search"
    )(restore_command)
