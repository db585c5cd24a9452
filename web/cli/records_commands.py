"""`heart import experts` and `heart export experts`: JSONL in and out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from marketplace.db import make_engine, session_scope
from marketplace.experts.service import export_records
from web.cli.common import console, load_settings, run_import

import_app = typer.Typer(help="导入 / import records", no_args_is_help=True)
export_app = typer.Typer(help="导出 / export records", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


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
