"""The booking package's scheduled jobs: crisis escalation, reminders, busy feeds, mail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from booking.busy import service as busy_service
from booking.fetching import fetcher_for
from booking.locking import serialized_session
from booking.notifications import outbox
from booking.notifications import service as notifications_service
from booking.notifications.models import BookingNotification
from marketplace import messages
from marketplace.accounts.principal import system_principal
from marketplace.errors import Unavailable
from marketplace.jobs.service import JobContext, JobSpec

# The scheduled escalation acts as the system principal; the audit log names it by the job.
ESCALATION = system_principal("booking.escalation")


def escalate_crisis(ctx: JobContext) -> str:
    """Flag crisis requests nobody accepted in time and notify staff."""
    with serialized_session(ctx.engine) as session:
        escalated = notifications_service.escalate_unanswered_crisis(
            session=session, user=ESCALATION, now=ctx.now
        )
    return messages.JOB_SUMMARY_ESCALATION.format(count=len(escalated))


def queue_reminders(ctx: JobContext) -> str:
    """Queue the day-before reminders (each at most once: the outbox deduplicates)."""
    with serialized_session(ctx.engine) as session:
        count = notifications_service.enqueue_reminders(session=session, now=ctx.now)
    return messages.JOB_SUMMARY_REMINDERS.format(count=count)


def poll_feeds(ctx: JobContext) -> str:
    """Refresh every subscribed busy calendar; feeds that failed keep their old busy times."""
    # Fetching and parsing run outside any write transaction (see poll_busy_feeds).
    report = busy_service.poll_busy_feeds(
        engine=ctx.engine, now=ctx.now, fetch=fetcher_for(ctx.settings)
    )
    summary = messages.JOB_SUMMARY_FEEDS.format(
        refreshed=report.refreshed, failed=len(report.failed)
    )
    if report.failed and not report.refreshed:
        raise Unavailable(messages.JOB_FEEDS_FAILED.format(errors="；".join(report.failed[:5])))
    return summary


def pending_mail(session: Session) -> int:
    """E-mails queued and not yet sent."""
    return session.exec(
        select(func.count())
        .select_from(BookingNotification)
        .where(col(BookingNotification.sent_at).is_(None))
        .where(col(BookingNotification.claimed_at).is_(None))
    ).one()


def deliver_mail(ctx: JobContext) -> str:
    """Send the queued e-mails; a run that could send none of them counts as failed."""
    report = outbox.deliver_pending(engine=ctx.engine, settings=ctx.settings)
    with Session(ctx.engine) as session:
        pending = pending_mail(session)
    if report.errors and report.sent == 0:
        raise Unavailable(messages.JOB_MAIL_FAILED.format(errors="；".join(report.errors[:5])))
    return messages.JOB_SUMMARY_MAIL.format(sent=report.sent, failed=report.failed, pending=pending)


def booking_jobs() -> list[JobSpec]:
    minute = timedelta(minutes=1)
    return [
        JobSpec.every(
            minute, "crisis_escalation", escalate_crisis, budget=minute, max_backoff=2 * minute
        ),
        JobSpec.every(minute, "mail_delivery", deliver_mail, budget=5 * minute),
        JobSpec.every(10 * minute, "reminders", queue_reminders, budget=2 * minute),
        JobSpec.every(15 * minute, "busy_feeds", poll_feeds, budget=10 * minute),
    ]
