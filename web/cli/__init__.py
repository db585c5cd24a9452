"""The `heart` command line (Typer). Help is Chinese first, English second.

One module per command group (`*_commands.py`), each exposing `register(app)`; they share
`web.cli.common` and never import each other. A new command is a line in `COMMANDS` (its name,
its module and its one-line help) plus the module's `register`.

Command modules are imported only when their command runs (or shows its own help): `heart
--help` lists `COMMANDS` without importing any, and `heart users list` or `heart index
--status` import only their own module, not the database-, search- or matching-heavy modules of
the others (tests/web/test_cli_startup.py)."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import click
import typer
from typer.core import TyperGroup


class Entry(NamedTuple):
    module: str
    help: str


COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "db_commands",
        "初始化数据库：迁移并写入地区与专长词表 / create or upgrade the database and seed "
        "reference data",
    ),
    "serve": Entry("serve_commands", "启动网页与 API 服务 / serve the web app and API"),
    "demo": Entry(
        "serve_commands", "用演示数据新建数据库并启动服务 / fresh demo database, then serve"
    ),
    "index": Entry(
        "search_commands", "索引：同步或重建搜索索引 / sync or rebuild the search index"
    ),
    "search": Entry("search_commands", "搜索专家与服务 / search experts and services"),
    "match": Entry("match_commands", "批量匹配申请与专家 / match district requests to experts"),
    "backup": Entry("ops_commands", "备份整个数据库 / back up the whole database"),
    "restore": Entry(
        "ops_commands", "从备份恢复数据库并重建搜索索引 / restore a backup, rebuild search"
    ),
    "worker": Entry(
        "worker_commands",
        "运行定时任务（危机升级、邮件、索引同步、提醒、过期登记等）/ run the scheduled jobs",
    ),
    "db": Entry("db_commands", "数据库 / database"),
    "import": Entry("records_commands", "导入 / import records"),
    "export": Entry("records_commands", "导出 / export records"),
    "users": Entry("users_commands", "用户 / users"),
    "eval": Entry("search_commands", "评估 / evaluation"),
    "booking": Entry("booking_commands", "预约 / booking jobs"),
    "services": Entry("services_commands", "采购服务 / procured services"),
}


class LazyCommands(TyperGroup):
    """The top-level group: a command's module is imported when the command is looked up to
    run; listing the commands in the help uses `COMMANDS` alone."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing and cmd_name not in self.commands:
            return click.Command(cmd_name, help=entry.help)  # a help row, nothing imported
        if cmd_name not in self.commands:
            self.load(entry.module)
        return self.commands.get(cmd_name)

    def load(self, module_name: str) -> None:
        """Import a command module and add the commands it registers."""
        module = importlib.import_module(f"web.cli.{module_name}")
        part = typer.Typer()
        module.register(part)
        for name, command in typer.main.get_group(part).commands.items():
            self.commands.setdefault(name, command)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyCommands,
    help="HEART 专家资源库 / HEART expert hub",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main() -> None:
    """HEART 专家资源库 / HEART expert hub"""


_LAZY_NAMES = {
    "DEMO_PASSWORD": "serve_commands",
    "build_demo": "serve_commands",
    "run_import": "common",
}


def __getattr__(name: str) -> Any:
    """`from web.cli import build_demo` (tests, benchmarks) imports its module only then."""
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"web.cli.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(name)


__all__ = ["COMMANDS", "DEMO_PASSWORD", "app", "build_demo", "run_import"]
