"""`heart booking tick`: the periodic booking jobs (run from cron or a systemd timer)."""

from __future__ import annotations

import typer
from rich.console import Console

from booking import locking
from booking.busy import service as busy_service
from booking.fetching import fetcher_for
from booking.notifications import outbox
from booking.notifications import service as notifications_service
from marketplace.db import make_engine
from web.cli.common import CLI, load_settings

booking_app = typer.Typer(help="预约 / booking jobs", no_args_is_help=True)
console = Console()


@booking_app.command(
    "tick", help="升级无人响应的危机预约、生成次日提醒、刷新忙碌日历订阅、发送邮件"
)
def tick_command() -> None:
    """Escalate unanswered crisis requests, queue reminders, poll busy feeds, deliver mail."""

    settings = load_settings()
    engine = make_engine(settings)
    try:
        with locking.serialized_session(engine) as session:
            escalated = notifications_service.escalate_unanswered_crisis(session=session, user=CLI)
            reminders = notifications_service.enqueue_reminders(session=session)
        polled = busy_service.poll_busy_feeds(engine=engine, fetch=fetcher_for(settings))
        delivered = outbox.deliver_pending(engine=engine, settings=settings)
    finally:
        engine.dispose()
    console.print(
        f"危机升级 {len(escalated)}，提醒 {reminders}，日历订阅刷新 {polled.refreshed}"
        f"（失败 {len(polled.failed)}），邮件发送 {delivered.sent}（失败 {delivered.failed}）"
    )
    for line in polled.failed + delivered.errors:
        console.print(f"  [yellow]{line}[/yellow]")


def register(app: typer.Typer) -> None:
    app.add_typer(booking_app, name="booking")
