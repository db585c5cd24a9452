"""iCalendar (RFC 5545): session invitations, subscription feeds, and reading busy calendars.

Reading is defensive: files come from experts' uploads and from URLs on the internet, so size,
nesting, component count, recurrence frequency and the number of expanded occurrences are all
bounded before and during parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from booking.availability import Interval, merge

PRODID = "-//HEART//heart-hub booking//ZH"
UID_DOMAIN = "localhost"  # Settings.uid_domain's default (public_url's host)
MAX_ICS_BYTES = 2 * 1024 * 1024
MAX_COMPONENTS = 5_000
MAX_DEPTH = 4  # VCALENDAR > VTIMEZONE > STANDARD, VCALENDAR > VEVENT > VALARM
MAX_OCCURRENCES = 10_000
MAX_LINE_CHARS = 10_000
# Events outside these years are skipped one by one with a note (never the whole file): nothing
# that old or that far ahead can block a bookable slot, and the extremes break date arithmetic.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200
# Sub-daily recurrence multiplies occurrences without bound; a busy calendar has no use for it.
REFUSED_FREQUENCIES = {"SECONDLY", "MINUTELY", "HOURLY"}
MAX_PER_DAY = 24  # BYHOUR x BYMINUTE x BYSECOND expansions of one day
# Expansion walks every occurrence from DTSTART on, so old daily rules cost time even when
# only a month is wanted; this bounds that walk for one file (about a second of CPU).
MAX_SCANNED_OCCURRENCES = 100_000


class IcsRejected(ValueError):
    """An .ics that is refused; `reason` names why (size, depth, components, malformed, ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Party:
    """An organizer or attendee: display name and, when known, an e-mail address."""

    name: str
    email: str | None = None
    key: str = ""  # stable id used when there is no e-mail address (urn:x-heart:...)

    def address(self) -> icalendar.vCalAddress:
        uri = f"mailto:{self.email}" if self.email else f"urn:x-heart:{self.key}"
        value = icalendar.vCalAddress(uri)
        value.params["CN"] = self.name
        return value


@dataclass(frozen=True)
class SessionInfo:
    """What an invitation needs to know about a session (kept free of database types)."""

    uid: str
    sequence: int
    title: str
    description: str
    start: datetime
    end: datetime
    status: str
    location: str
    updated_at: datetime
    # Feeds publish each event with its organizer (RFC 5546 requires one).
    organizer: Party | None = None


# What a calendar client shows for each session status. A completed or no-show session took
# its time as planned (CONFIRMED); only cancelled and declined ones are CANCELLED.
EVENT_STATUS = {
    "requested": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "completed": "CONFIRMED",
    "no_show": "CONFIRMED",
    "cancelled": "CANCELLED",
    "declined": "CANCELLED",
}
# Attendee participation: accepted once the session is confirmed (or took place).
ACCEPTED_STATUSES = ("confirmed", "completed", "no_show")


def session_uid(token: str, domain: str = UID_DOMAIN) -> str:
    return f"{token}@{domain}"


def _calendar(method: str | None, name: str | None = None) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
    return calendar


def _event(info: SessionInfo, tz: ZoneInfo, *, cancelled: bool) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", info.uid)
    event.add("sequence", info.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("last-modified", info.updated_at.astimezone(UTC))
    event.add("dtstart", info.start.astimezone(tz))
    event.add("dtend", info.end.astimezone(tz))
    event.add("summary", info.title)
    if info.description:
        event.add("description", info.description)
    if info.location:
        event.add("location", info.location)
    event.add("status", "CANCELLED" if cancelled else EVENT_STATUS.get(info.status, "TENTATIVE"))
    if info.organizer is not None:
        event.add("organizer", info.organizer.address(), encode=False)
    return event


def session_ics(
    info: SessionInfo,
    *,
    organizer: Party,
    attendees: Sequence[Party],
    cancelled: bool = False,
    publish: bool = False,
    timezone: str = "Asia/Shanghai",
) -> bytes:
    """One session as METHOD:REQUEST (CANCEL once cancelled or declined) for its attendees, or
    as METHOD:PUBLISH, a copy for the organizer's own calendar that asks nothing of anyone."""
    tz = ZoneInfo(timezone)
    method = "PUBLISH" if publish else "CANCEL" if cancelled else "REQUEST"
    calendar = _calendar(method)
    event = _event(info, tz, cancelled=cancelled)
    if info.organizer is None:
        event.add("organizer", organizer.address(), encode=False)
    for party in attendees:
        attendee = party.address()
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        accepted = info.status in ACCEPTED_STATUSES
        attendee.params["PARTSTAT"] = "ACCEPTED" if accepted else "NEEDS-ACTION"
        if not publish:
            # Without RSVP=TRUE calendar clients (Outlook, Gmail, Apple) send no reply.
            attendee.params["RSVP"] = "TRUE"
        event.add("attendee", attendee, encode=False)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def feed_ics(
    name: str, sessions: Iterable[SessionInfo], *, timezone: str = "Asia/Shanghai"
) -> bytes:
    """A subscription feed (METHOD:PUBLISH) with every given session."""
    tz = ZoneInfo(timezone)
    calendar = _calendar("PUBLISH", name)
    for info in sessions:
        calendar.add_component(_event(info, tz, cancelled=info.status in ("cancelled", "declined")))
    calendar.add_missing_timezones()
    return calendar.to_ical()


# --- reading busy calendars -------------------------------------------------------------------


def _prescan(data: bytes) -> str:
    if len(data) > MAX_ICS_BYTES:
        raise IcsRejected("too_large", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IcsRejected("malformed", "not UTF-8") from exc
    depth = 0
    components = 0
    seen_calendar = False
    for line in text.splitlines():
        if len(line) > MAX_LINE_CHARS:
            raise IcsRejected("malformed", "line too long")
        upper = line[:6].upper()
        if upper == "BEGIN:":
            depth += 1
            components += 1
            seen_calendar = seen_calendar or line[6:].strip().upper() == "VCALENDAR"
            if depth > MAX_DEPTH:
                raise IcsRejected("too_deep", f"depth {depth}")
            if components > MAX_COMPONENTS:
                raise IcsRejected("too_many_components", str(components))
        elif line[:4].upper() == "END:":
            depth -= 1
            if depth < 0:
                raise IcsRejected("malformed", "END without BEGIN")
    if not seen_calendar or depth != 0:
        raise IcsRejected("malformed", "not a complete VCALENDAR")
    return text


def _per_day(rule: icalendar.vRecur) -> int:
    count = 1
    for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        count *= max(1, len(rule.get(part, [])))
    return count


# The longest month of each month number (February: 29), for rules that can never occur.
_MONTH_DAYS = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


def _never_occurs(rule: icalendar.vRecur) -> bool:
    """True for a rule whose month days exist in none of its months (BYMONTH=2;BYMONTHDAY=30).

    Expanding such a rule makes the recurrence library walk every day up to the year 9999
    looking for an occurrence; it is refused before expansion instead."""
    months = [int(m) for m in rule.get("BYMONTH", [])] or list(range(1, 13))
    days = [int(d) for d in rule.get("BYMONTHDAY", [])]
    if not days:
        return False
    longest = max(_MONTH_DAYS.get(m, 31) for m in months)
    return all(abs(d) > longest for d in days)


def _start_year(event: icalendar.cal.Component) -> int | None:
    try:
        value = getattr(event["DTSTART"], "dt", None)
    except Exception:  # noqa: BLE001  (missing or broken: the expansion reports it as malformed)
        return None
    return value.year if isinstance(value, date) else None


def _skip_out_of_range(calendar: icalendar.Calendar) -> list[str]:
    """Drop events starting before EARLIEST_YEAR or after LATEST_YEAR; a note for each."""
    notes: list[str] = []
    for event in list(calendar.walk("VEVENT")):
        year = _start_year(event)
        if year is not None and not EARLIEST_YEAR <= year <= LATEST_YEAR:
            notes.append(f"{event.get('SUMMARY') or event.get('UID') or '?'}（{year} 年）")
            for parent in calendar.walk():
                if event in parent.subcomponents:
                    parent.subcomponents.remove(event)
    return notes


def _periods(rule: icalendar.vRecur, freq: str, days: int) -> int:
    """Candidates the expansion walks from DTSTART over `days` days (an upper bound)."""

    def n(part: str) -> int:
        return len(rule.get(part, []))

    if freq == "WEEKLY":
        return (days // 7 + 1) * max(1, n("BYDAY"))
    if freq == "MONTHLY":
        return (days // 28 + 1) * max(1, n("BYMONTHDAY"), 5 * n("BYDAY"))
    if freq == "YEARLY":
        per_year = max(
            1,
            max(1, n("BYMONTH")) * max(1, n("BYMONTHDAY")),
            53 * n("BYDAY"),
            n("BYYEARDAY"),
            7 * n("BYWEEKNO"),
        )
        return (days // 365 + 1) * per_year
    return days


def _check_recurrence(calendar: icalendar.Calendar, end: datetime) -> None:
    """Refuse rules that would make expansion explode; the estimate is an upper bound per rule:
    at most `_per_day` occurrences on each day from DTSTART to the window's end (or COUNT)."""
    scanned = 0
    for event in calendar.walk("VEVENT"):
        rule = event.get("RRULE")
        if rule is None:
            continue
        start = event.get("DTSTART")
        if start is None:
            raise IcsRejected("malformed", "RRULE without DTSTART")
        first = start.dt if isinstance(start.dt, datetime) else datetime.combine(start.dt, time(0))
        days = max(1, (end.replace(tzinfo=None) - first.replace(tzinfo=None)).days + 1)
        for one in rule if isinstance(rule, list) else [rule]:
            freq = [str(f).upper() for f in one.get("FREQ", [])]
            if any(f in REFUSED_FREQUENCIES for f in freq):
                raise IcsRejected("recurrence_too_frequent", ",".join(freq))
            if _never_occurs(one):
                raise IcsRejected("recurrence_never", str(event.get("SUMMARY") or ""))
            per_day = _per_day(one)
            if per_day > MAX_PER_DAY:
                raise IcsRejected("recurrence_too_frequent", f"{per_day} per day")
            estimate = _periods(one, freq[0] if freq else "DAILY", days) * per_day
            counts = one.get("COUNT", [])
            if counts:
                estimate = min(estimate, int(counts[0]))
            scanned += estimate
            if scanned > MAX_SCANNED_OCCURRENCES:
                raise IcsRejected("too_many_occurrences", f"> {MAX_SCANNED_OCCURRENCES}")


def _as_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the expert's own zone
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class BusyRead:
    """What a busy calendar says for one window: merged busy intervals, and the events skipped."""

    intervals: list[Interval]
    skipped: list[str]


def _declined_by(event: icalendar.cal.Component, addresses: frozenset[str]) -> bool:
    attendees = event.get("ATTENDEE") or []
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = str(attendee).lower().removeprefix("mailto:")
        if address in addresses and str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED":
            return True
    return False


def read_busy(
    data: bytes,
    *,
    start: datetime,
    end: datetime,
    timezone: str = "Asia/Shanghai",
    owner_addresses: frozenset[str] = frozenset(),
) -> BusyRead:
    """Busy times from `start` to `end` in an .ics, recurrences expanded; IcsRejected if hostile.

    Transparent and cancelled events are free, and so are invitations the calendar's owner
    (any of `owner_addresses`) declined."""
    text = _prescan(data)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # the parser raises many types on garbage  # noqa: BLE001
        raise IcsRejected("malformed", type(exc).__name__) from exc
    if calendar.name != "VCALENDAR":
        raise IcsRejected("malformed", "not a VCALENDAR")
    skipped = _skip_out_of_range(calendar)
    _check_recurrence(calendar, end)
    tz = ZoneInfo(timezone)
    owners = frozenset(a.lower() for a in owner_addresses)
    intervals: list[Interval] = []
    try:
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(start, end)
        if len(occurrences) > MAX_OCCURRENCES:
            raise IcsRejected("too_many_occurrences", f"> {MAX_OCCURRENCES}")
        for event in occurrences:
            if "DTSTART" not in event:
                continue
            begins = _as_utc(event["DTSTART"].dt, tz)
            if str(event.get("TRANSP", "")).upper() == "TRANSPARENT":
                continue
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            if owners and _declined_by(event, owners):
                continue
            if "DTEND" in event:
                ends = _as_utc(event["DTEND"].dt, tz)
            elif "DURATION" in event:
                ends = begins + event["DURATION"].dt
            elif isinstance(event["DTSTART"].dt, datetime):
                ends = begins
            else:
                ends = begins + timedelta(days=1)
            if ends > start and ends > begins:
                intervals.append((max(begins, start), min(ends, end)))
    except IcsRejected:
        raise
    except Exception as exc:  # noqa: BLE001  (bad dates, broken rules inside the expansion)
        raise IcsRejected("malformed", type(exc).__name__) from exc
    return BusyRead(merge(intervals), skipped)


def busy_intervals(
    data: bytes, *, start: datetime, end: datetime, timezone: str = "Asia/Shanghai"
) -> list[Interval]:
    """Busy times from `start` to `end` in an .ics (see `read_busy`)."""
    return read_busy(data, start=start, end=end, timezone=timezone).intervals
