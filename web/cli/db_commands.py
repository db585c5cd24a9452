"""`heart init` and `heart db upgrade`: create or upgrade the schema and seed reference data."""

from __future__ import annotations

import typer

from marketplace.db import make_engine, run_migrations
from web.cli.common import console, initialise, load_settings

db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command(
        "init",
        help="初始化数据库：迁移并写入地区与专长词表 / create or upgrade the database and seed reference data",
    )(init_command)
    app.add_typer(db_app, name="db")


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
