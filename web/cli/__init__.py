"""The `heart` command line (Typer). Help is Chinese first, English second.

One module per command group (`*_commands.py`), each exposing `register(app)`; they share
`web.cli.common` and never import each other. A new command group is a new module plus one line
in `COMMAND_MODULES`."""

from __future__ import annotations

import typer

from web.cli import (
    booking_commands,
    db_commands,
    match_commands,
    ops_commands,
    records_commands,
    search_commands,
    serve_commands,
    services_commands,
    users_commands,
    worker_commands,
)
from web.cli.common import run_import
from web.cli.serve_commands import DEMO_PASSWORD, build_demo

app = typer.Typer(
    help="HEART 专家资源库 / HEART expert hub",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

COMMAND_MODULES = (
    db_commands,
    records_commands,
    users_commands,
    serve_commands,
    search_commands,
    match_commands,
    booking_commands,
    ops_commands,
    services_commands,
    worker_commands,
)
for _module in COMMAND_MODULES:
    _module.register(app)

__all__ = ["DEMO_PASSWORD", "app", "build_demo", "run_import"]
