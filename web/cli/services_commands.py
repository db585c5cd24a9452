"""`heart services expire`: lapse the unused balances of procured services that have ended, so
the expiry enters the ledger (run daily from cron or a systemd timer; running it again is a no-op)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console

from marketplace import messages
from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import expire_lapsed
from marketplace.db import make_engine, serialized_write
from marketplace.services.service import today
from web.cli.common import fail, load_settings

services_app = typer.Typer(help="采购服务 / procured services", no_args_is_help=True)
console = Console()


@services_app.command(
    "expire", help="登记已过有效期服务的未用余量为过期（写入台账）/ expire lapsed service balances"
)
def expire_command(
    on: Annotated[
        str | None,
        typer.Option("--on", help="按此日期判断是否过期（YYYY-MM-DD，默认今天）/ as-of date"),
    ] = None,
) -> None:
    """Write expiry ledger entries for every service whose validity ended before the date."""

    try:
        as_of = date.fromisoformat(on) if on else today()
    except ValueError:
        raise fail(f"日期格式应为 YYYY-MM-DD：{on}", 2) from None
    engine = make_engine(load_settings())
    try:
        with serialized_write(engine) as session:
            written = expire_lapsed(
                session=session, user=system_principal("heart services expire"), on=as_of
            )
    finally:
        engine.dispose()
    console.print(messages.SERVICES_EXPIRED.format(entries=written, on=as_of.isoformat()))


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")
