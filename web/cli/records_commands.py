"""`heart import experts|resources` and `heart export experts|resources`: JSONL in and out."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from marketplace.db import make_engine, session_scope
from marketplace.experts.service import export_records
from marketplace.resources.antivirus import antivirus_from
from marketplace.resources.files import store_for
from marketplace.resources.importing import export_lines, import_resources
from web.cli.common import CLI, console, fail, load_settings, run_import

import_app = typer.Typer(help="导入 / import records", no_args_is_help=True)
export_app = typer.Typer(help="导出 / export records", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


OutputFile = Annotated[
    str, typer.Argument(help="输出文件，- 表示标准输出 / output file, - for stdout")
]


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
    file: OutputFile = "-",
) -> None:
    count = _export_lines(
        file,
        lambda session: (
            json.dumps(record, ensure_ascii=False) for record in export_records(session=session)
        ),
    )
    console.print(f"已导出 {count} 位专家 / exported {count} experts")


@import_app.command(
    "resources",
    help="从 JSONL 文件或目录导入资料库资料（逐行报告）/ import library resources, per-line report",
)
def import_resources_command(
    source: Annotated[
        Path, typer.Argument(help="JSONL 文件或包含 JSONL 的目录 / a JSONL file or a directory")
    ],
) -> None:
    settings = load_settings()
    if not source.exists():
        raise fail(f"找不到文件 / file not found: {source}", 2)
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            report = import_resources(
                session=session,
                source=source,
                store=store_for(settings.data_dir),
                user=CLI,
                antivirus=antivirus_from(settings.antivirus_command, settings.antivirus_seconds),
            )
    finally:
        engine.dispose()
    for name, line, reason in report.errors:
        console.print(f"[yellow]{name} 第 {line} 行：[/yellow]{reason}", soft_wrap=True)
    console.print(
        f"新增 {report.created} · 未变 {report.unchanged} · 拒绝 {len(report.errors)}"
        f" / created {report.created}, unchanged {report.unchanged},"
        f" rejected {len(report.errors)}"
    )
    raise typer.Exit(1 if report.errors else 0)


@export_app.command(
    "resources",
    help="导出已发布的资料为 JSONL（与导入格式一致）/ export published resources as JSONL",
)
def export_resources_command(
    file: OutputFile = "-",
) -> None:
    count = _export_lines(file, lambda session: export_lines(session=session))
    console.print(f"已导出 {count} 份资料 / exported {count} resources")


def _export_lines(file: str, lines: Callable[[Session], Iterable[str]]) -> int:
    """Write the lines one read session yields to FILE (- for stdout); how many were written."""
    engine = make_engine(load_settings())
    out = sys.stdout if file == "-" else open(file, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        with session_scope(engine) as session:
            for line in lines(session):
                out.write(line + "\n")
                count += 1
    finally:
        if out is not sys.stdout:
            out.close()
        engine.dispose()
    return count
