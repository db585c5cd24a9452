"""Busy calendar services: upload, register and poll an expert's own calendars."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from booking import availability as av
from booking import ical
from booking.access import require_expert_editor
from booking.busy.models import BusyCalendar, BusyTime
from booking.schedule.models import AvailabilityProfile
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import utcnow
from marketplace.errors import InvalidInput, NotFound
from marketplace.experts.service import get_expert

BUSY_SYNC_EXTRA_DAYS = 30


def _sync_window(session: Session, expert_id: str, now: datetime) -> tuple[datetime, datetime]:
    profile = session.get(AvailabilityProfile, expert_id)
    horizon = profile.horizon_days if profile else 90
    return now - timedelta(days=1), now + timedelta(days=horizon + BUSY_SYNC_EXTRA_DAYS)


def _parse_busy(session: Session, expert_id: str, data: bytes, now: datetime) -> list[av.Interval]:
    start, end = _sync_window(session, expert_id, now)
    profile = session.get(AvailabilityProfile, expert_id)
    try:
        return ical.busy_intervals(
            data, start=start, end=end, timezone=profile.timezone if profile else "Asia/Shanghai"
        )
    except ical.IcsRejected as rejected:
        raise InvalidInput(
            messages.ICS_REJECTED[rejected.reason].format(detail=rejected.detail)
        ) from None


def _replace_busy(
    session: Session, calendar: BusyCalendar, intervals: list[av.Interval], now: datetime
) -> None:
    session.execute(delete(BusyTime).where(col(BusyTime.calendar_id) == calendar.id))
    for start, end in intervals:
        session.add(
            BusyTime(
                calendar_id=calendar.id or 0,
                expert_id=calendar.expert_id,
                start_at=start,
                end_at=end,
            )
        )
    calendar.event_count = len(intervals)
    calendar.synced_at = now
    calendar.last_error = None
    session.add(calendar)
    session.flush()


def upload_busy_calendar(
    *,
    session: Session,
    expert_id: str,
    data: bytes,
    name: str,
    user: User,
    now: datetime | None = None,
) -> BusyCalendar:
    """Store the busy times of an uploaded .ics (checked fully before anything is stored)."""
    require_expert_editor(user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    intervals = _parse_busy(session, expert_id, data, now)
    calendar = BusyCalendar(expert_id=expert_id, source="upload", name=name[:100])
    session.add(calendar)
    session.flush()
    _replace_busy(session, calendar, intervals, now)
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.upload",
        entity_type="expert",
        entity_id=expert_id,
        after={"calendar_id": calendar.id, "intervals": len(intervals)},
    )
    return calendar


FetchIcs = Callable[[str], bytes]


def _fetch(url: str, fetch: FetchIcs) -> bytes:
    try:
        return fetch(url)
    except ical.IcsRejected as rejected:
        raise InvalidInput(
            messages.ICS_REJECTED[rejected.reason].format(detail=rejected.detail)
        ) from None


def register_busy_feed(
    *,
    session: Session,
    expert_id: str,
    url: str,
    name: str,
    user: User,
    now: datetime | None = None,
    fetch: FetchIcs = ical.fetch_ics,
) -> BusyCalendar:
    """Register an ICS feed URL; it is fetched once now and stored only if it reads cleanly."""
    require_expert_editor(user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    intervals = _parse_busy(session, expert_id, _fetch(url, fetch), now)
    calendar = BusyCalendar(expert_id=expert_id, source="feed", name=name[:100], url=url)
    session.add(calendar)
    session.flush()
    _replace_busy(session, calendar, intervals, now)
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.register",
        entity_type="expert",
        entity_id=expert_id,
        after={"calendar_id": calendar.id, "url": url, "intervals": len(intervals)},
    )
    return calendar


def list_busy_calendars(*, session: Session, expert_id: str, user: User) -> list[BusyCalendar]:
    require_expert_editor(user, expert_id)
    return list(
        session.exec(
            select(BusyCalendar)
            .where(BusyCalendar.expert_id == expert_id)
            .order_by(col(BusyCalendar.id))
        ).all()
    )


def get_busy_calendar(
    *, session: Session, expert_id: str, calendar_id: int, user: User
) -> BusyCalendar:
    """One of the expert's busy calendars (the expert themself or staff)."""
    require_expert_editor(user, expert_id)
    calendar = session.get(BusyCalendar, calendar_id)
    if calendar is None or calendar.expert_id != expert_id:
        raise NotFound(messages.BUSY_CALENDAR_NOT_FOUND.format(id=calendar_id))
    return calendar


def delete_busy_calendar(*, session: Session, expert_id: str, calendar_id: int, user: User) -> None:
    """Forget a busy calendar and its busy times."""
    calendar = get_busy_calendar(
        session=session, expert_id=expert_id, calendar_id=calendar_id, user=user
    )
    session.execute(delete(BusyTime).where(col(BusyTime.calendar_id) == calendar_id))
    session.delete(calendar)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.delete",
        entity_type="expert",
        entity_id=expert_id,
        before={"calendar_id": calendar_id, "url": calendar.url},
    )


def refresh_busy_feed(
    *,
    session: Session,
    calendar: BusyCalendar,
    now: datetime | None = None,
    fetch: FetchIcs = ical.fetch_ics,
) -> BusyCalendar:
    """Poll one feed; on failure the previous busy times stay and the error is recorded."""
    now = now or utcnow()
    if calendar.source != "feed" or not calendar.url:
        return calendar
    try:
        intervals = _parse_busy(session, calendar.expert_id, _fetch(calendar.url, fetch), now)
    except InvalidInput as error:
        calendar.last_error = error.message[:500]
        session.add(calendar)
        session.flush()
        return calendar
    _replace_busy(session, calendar, intervals, now)
    return calendar


@dataclass
class PollReport:
    refreshed: int = 0
    failed: list[str] = field(default_factory=list)


def poll_busy_feeds(
    *, session: Session, now: datetime | None = None, fetch: FetchIcs = ical.fetch_ics
) -> PollReport:
    """Refresh every registered feed."""
    report = PollReport()
    feeds = session.exec(
        select(BusyCalendar).where(BusyCalendar.source == "feed").order_by(col(BusyCalendar.id))
    ).all()
    for calendar in feeds:
        refresh_busy_feed(session=session, calendar=calendar, now=now, fetch=fetch)
        if calendar.last_error:
            report.failed.append(f"{calendar.id}: {calendar.last_error}")
        else:
            report.refreshed += 1
    return report
