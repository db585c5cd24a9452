"""Busy calendar services: upload, register and poll an expert's own calendars.

A calendar keeps its source (.ics) and the window its busy times were stored for; a window
outside it is expanded from the source on demand (cached per calendar version), so a recurring
series blocks for as long as it recurs. Every read of a calendar runs in the sandbox (a worker
process with a CPU and time budget), never on the event loop. Reading (checks, fetch, sandboxed parse:
read_upload, read_feed, read_refresh) writes nothing and is done with no write lock held; the
store (add_busy_calendar, store_refresh) is a short write of its own, for the web routes and
for polling alike.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from booking import availability as av
from booking import ical
from booking.access import require_expert_editor
from booking.busy.models import BusyCalendar, BusyTime
from booking.fetching import fetch_ics
from booking.locking import serialized_session
from booking.sandbox import read_busy_bounded
from booking.schedule.models import AvailabilityProfile
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import utcnow
from marketplace.errors import InvalidInput, NotFound
from marketplace.experts.service import get_expert
from marketplace.vocabulary import Role

BUSY_SYNC_EXTRA_DAYS = 30
CACHE_SIZE = 256

FetchIcs = Callable[[str], bytes]


def _sync_window(session: Session, expert_id: str, now: datetime) -> tuple[datetime, datetime]:
    profile = session.get(AvailabilityProfile, expert_id)
    horizon = profile.horizon_days if profile else 90
    return now - timedelta(days=1), now + timedelta(days=horizon + BUSY_SYNC_EXTRA_DAYS)


@dataclass(frozen=True)
class _Reader:
    """What reading one expert's calendar needs: the time zone and the expert's own addresses."""

    timezone: str
    owners: frozenset[str]


def _reader(session: Session, expert_id: str) -> _Reader:
    profile = session.get(AvailabilityProfile, expert_id)
    emails = session.exec(
        select(User.email).where(
            User.role == Role.expert.value,
            User.expert_id == expert_id,
            col(User.email).is_not(None),
        )
    ).all()
    return _Reader(
        profile.timezone if profile else "Asia/Shanghai",
        frozenset(e.lower() for e in emails if e),
    )


def _read(data: bytes, reader: _Reader, start: datetime, end: datetime) -> ical.BusyRead:
    """Read an untrusted calendar in the sandbox; a refusal becomes a Chinese InvalidInput."""
    try:
        return read_busy_bounded(
            data, start=start, end=end, timezone=reader.timezone, owner_addresses=reader.owners
        )
    except ical.IcsRejected as rejected:
        raise InvalidInput(
            messages.ICS_REJECTED[rejected.reason].format(detail=rejected.detail)
        ) from None


def _notes(skipped: list[str]) -> str | None:
    if not skipped:
        return None
    text = messages.BUSY_CALENDAR_SKIPPED.format(count=len(skipped), events="、".join(skipped))
    return text[:500]


def _store(
    session: Session,
    calendar: BusyCalendar,
    data: bytes,
    read: ical.BusyRead,
    window: tuple[datetime, datetime],
    now: datetime,
) -> None:
    """Keep the source, the busy times of `window` and the notes; clears any previous error."""
    session.execute(delete(BusyTime).where(col(BusyTime.calendar_id) == calendar.id))
    for start, end in read.intervals:
        session.add(
            BusyTime(
                calendar_id=calendar.id or 0,
                expert_id=calendar.expert_id,
                start_at=start,
                end_at=end,
            )
        )
    calendar.source_ics = data.decode("utf-8-sig")
    calendar.expanded_from, calendar.expanded_until = window
    calendar.event_count = len(read.intervals)
    calendar.synced_at = now
    calendar.last_error = None
    calendar.notes = _notes(read.skipped)
    session.add(calendar)
    session.flush()


@dataclass(frozen=True)
class CalendarRead:
    """A calendar checked and read in the sandbox, ready to be stored (nothing written yet)."""

    expert_id: str
    data: bytes
    read: ical.BusyRead
    window: tuple[datetime, datetime]
    now: datetime


def read_upload(
    *, session: Session, expert_id: str, data: bytes, user: User, now: datetime | None = None
) -> CalendarRead:
    """Check an uploaded .ics and read it in the sandbox; writes nothing (no write lock needed)."""
    require_expert_editor(session, user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    window = _sync_window(session, expert_id, now)
    return CalendarRead(
        expert_id, data, _read(data, _reader(session, expert_id), *window), window, now
    )


def read_feed(
    *,
    session: Session,
    expert_id: str,
    url: str,
    user: User,
    now: datetime | None = None,
    fetch: FetchIcs = fetch_ics,
) -> CalendarRead:
    """Check a feed registration, fetch the feed and read it in the sandbox; writes nothing."""
    require_expert_editor(session, user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    window = _sync_window(session, expert_id, now)
    reader = _reader(session, expert_id)
    data = _fetch(url, fetch)
    return CalendarRead(expert_id, data, _read(data, reader, *window), window, now)


def add_busy_calendar(
    *, session: Session, read: CalendarRead, name: str, user: User, url: str | None = None
) -> BusyCalendar:
    """Store a calendar read by read_upload (url None) or read_feed (its url): the short write."""
    require_expert_editor(session, user, read.expert_id)
    calendar = BusyCalendar(
        expert_id=read.expert_id,
        source="feed" if url else "upload",
        name=name[:100],
        url=url,
    )
    session.add(calendar)
    session.flush()
    _store(session, calendar, read.data, read.read, read.window, read.now)
    after: dict[str, object] = {"calendar_id": calendar.id, "intervals": len(read.read.intervals)}
    if url:
        after["url"] = url
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.register" if url else "busy_calendar.upload",
        entity_type="expert",
        entity_id=read.expert_id,
        after=after,
    )
    return calendar


def upload_busy_calendar(
    *,
    session: Session,
    expert_id: str,
    data: bytes,
    name: str,
    user: User,
    now: datetime | None = None,
) -> BusyCalendar:
    """Store an uploaded .ics and its busy times (checked fully before anything is stored), in
    one session; the web routes read first and store in a separate short write."""
    read = read_upload(session=session, expert_id=expert_id, data=data, user=user, now=now)
    return add_busy_calendar(session=session, read=read, name=name, user=user)


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
    fetch: FetchIcs = fetch_ics,
) -> BusyCalendar:
    """Register an ICS feed URL; it is fetched once now and stored only if it reads cleanly (in
    one session; the web routes fetch first and store in a separate short write)."""
    read = read_feed(session=session, expert_id=expert_id, url=url, user=user, now=now, fetch=fetch)
    return add_busy_calendar(session=session, read=read, name=name, user=user, url=url)


def list_busy_calendars(*, session: Session, expert_id: str, user: User) -> list[BusyCalendar]:
    require_expert_editor(session, user, expert_id)
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
    require_expert_editor(session, user, expert_id)
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


@dataclass(frozen=True)
class RefreshRead:
    """A calendar's source fetched (feed) or taken (upload) and read again; nothing written."""

    calendar_id: int
    read: CalendarRead | None  # None: nothing to read (an upload without a stored source)
    error: str | None = None


def read_refresh(
    *,
    session: Session,
    calendar: BusyCalendar,
    now: datetime | None = None,
    fetch: FetchIcs = fetch_ics,
) -> RefreshRead:
    """Fetch a feed again (an upload: its source) and read it for the current window; a
    failure is kept as the error to record. Writes nothing (no write lock needed)."""
    now = now or utcnow()
    window = _sync_window(session, calendar.expert_id, now)
    reader = _reader(session, calendar.expert_id)
    calendar_id = calendar.id or 0
    try:
        data = _source_now(calendar.source, calendar.url, calendar.source_ics, fetch)
        if data is None:
            return RefreshRead(calendar_id, None)
        read = _read(data, reader, *window)
    except InvalidInput as error:
        return RefreshRead(calendar_id, None, error.message[:500])
    return RefreshRead(calendar_id, CalendarRead(calendar.expert_id, data, read, window, now))


def store_refresh(*, session: Session, refresh: RefreshRead) -> BusyCalendar | None:
    """Store what read_refresh found: the new busy times, or the error beside the previous ones
    (which stay). None when the calendar was deleted meanwhile."""
    calendar = session.get(BusyCalendar, refresh.calendar_id)
    if calendar is None:
        return None
    if refresh.error is not None:
        calendar.last_error = refresh.error
        session.add(calendar)
        session.flush()
    elif refresh.read is not None:
        read = refresh.read
        _store(session, calendar, read.data, read.read, read.window, read.now)
    return calendar


def _source_now(source: str, url: str | None, stored: str | None, fetch: FetchIcs) -> bytes | None:
    if source == "feed" and url:
        return _fetch(url, fetch)
    return stored.encode("utf-8") if stored else None


@dataclass
class PollReport:
    refreshed: int = 0
    failed: list[str] = field(default_factory=list)


def poll_busy_feeds(
    *, engine: Engine, now: datetime | None = None, fetch: FetchIcs = fetch_ics
) -> PollReport:
    """Refresh every calendar (feeds fetched again, uploads re-read for the moved window).

    Fetching and parsing happen outside any transaction; each result is then written in its
    own short serialized transaction, so a slow or hostile feed never holds the write lock."""
    now = now or utcnow()
    report = PollReport()
    with Session(engine) as session:
        calendars = [
            (c.id, c.expert_id, c.source, c.url, c.source_ics)
            for c in session.exec(select(BusyCalendar).order_by(col(BusyCalendar.id))).all()
        ]
        readers = {e: _reader(session, e) for e in {c[1] for c in calendars}}
        windows = {e: _sync_window(session, e, now) for e in readers}
    for calendar_id, expert_id, source, url, stored in calendars:
        assert calendar_id is not None  # read back from the table
        error: str | None = None
        result: CalendarRead | None = None
        try:
            data = _source_now(source, url, stored, fetch)
            if data is None:
                continue
            read = _read(data, readers[expert_id], *windows[expert_id])
            result = CalendarRead(expert_id, data, read, windows[expert_id], now)
        except InvalidInput as rejected:
            error = rejected.message[:500]
        refresh = RefreshRead(calendar_id, result, error)
        with serialized_session(engine) as session:
            if store_refresh(session=session, refresh=refresh) is None:  # deleted meanwhile
                continue
        if error is None:
            report.refreshed += 1
        else:
            report.failed.append(f"{calendar_id}: {error}")
    return report


# --- busy times for a window -----------------------------------------------------------------

_cache: OrderedDict[tuple, list[av.Interval]] = OrderedDict()
_cache_lock = threading.Lock()


def _expanded(
    calendar: BusyCalendar, reader: _Reader, start: datetime, end: datetime
) -> list[av.Interval]:
    """The calendar's busy times in [start, end) from its source, cached per source version."""
    # Whole months, so that the slot queries of the same weeks share one expansion.
    start = start.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (end.astimezone(UTC) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    key = (calendar.id, calendar.synced_at, reader, start, end)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        intervals = _read((calendar.source_ics or "").encode("utf-8"), reader, start, end).intervals
    except InvalidInput:  # read cleanly before; if the wider window is refused, only stored rows
        intervals = []
    with _cache_lock:
        _cache[key] = intervals
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return intervals


def busy_between(
    *, session: Session, expert_id: str, start: datetime, end: datetime
) -> list[av.Interval]:
    """Every busy time of the expert's calendars overlapping [start, end).

    Stored busy times serve the window they were expanded for; a calendar whose stored window
    does not cover [start, end) is expanded from its source for exactly that window."""
    calendars = session.exec(select(BusyCalendar).where(BusyCalendar.expert_id == expert_id)).all()
    stored_ids: list[int] = []
    intervals: list[av.Interval] = []
    reader: _Reader | None = None
    for calendar in calendars:
        # Stored rows start a day before the calendar was last read: nothing earlier can be
        # booked any more, so only the far end of the window decides whether they suffice.
        covered = calendar.expanded_until is None or end <= calendar.expanded_until
        if covered or not calendar.source_ics:
            stored_ids.append(calendar.id or 0)
            continue
        reader = reader or _reader(session, expert_id)
        intervals += [
            (s, e) for s, e in _expanded(calendar, reader, start, end) if s < end and e > start
        ]
    if stored_ids:
        rows = session.exec(
            select(BusyTime.start_at, BusyTime.end_at).where(
                col(BusyTime.calendar_id).in_(stored_ids),
                BusyTime.start_at < end,
                BusyTime.end_at > start,
            )
        ).all()
        intervals += [(s, e) for s, e in rows]
    return intervals
