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
UID_DOMAIN = "heart-hub"
MAX_ICS_BYTES = 2 * 1024 * 1024
MAX_COMPONENTS = 5_000
MAX_DEPTH = 4  # VCALENDAR > VTIMEZONE > STANDARD, VCALENDAR > VEVENT > VALARM
MAX_OCCURRENCES = 10_000
MAX_LINE_CHARS = 10_000
EARLIEST_YEAR = 1970
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


def session_uid(token: str) -> str:
    return f"{token}@{UID_DOMAIN}"


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
    if cancelled:
        event.add("status", "CANCELLED")
    elif info.status == "confirmed" or info.status == "completed":
        event.add("status", "CONFIRMED")
    else:
        event.add("status", "TENTATIVE")
    return event


def session_ics(
    info: SessionInfo,
    *,
    organizer: Party,
    attendees: Sequence[Party],
    cancelled: bool = False,
    timezone: str = "Asia/Shanghai",
) -> bytes:
    """One session as METHOD:REQUEST, or METHOD:CANCEL when it was cancelled or declined."""
    tz = ZoneInfo(timezone)
    calendar = _calendar("CANCEL" if cancelled else "REQUEST")
    event = _event(info, tz, cancelled=cancelled)
    event.add("organizer", organizer.address(), encode=0)
    for party in attendees:
        attendee = party.address()
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "ACCEPTED" if info.status == "confirmed" else "NEEDS-ACTION"
        event.add("attendee", attendee, encode=0)
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
        if start.dt.year < EARLIEST_YEAR:
            raise IcsRejected("recurrence_too_old", str(start.dt))
        first = start.dt if isinstance(start.dt, datetime) else datetime.combine(start.dt, time(0))
        days = max(1, (end.replace(tzinfo=None) - first.replace(tzinfo=None)).days + 1)
        for one in rule if isinstance(rule, list) else [rule]:
            freq = [str(f).upper() for f in one.get("FREQ", [])]
            if any(f in REFUSED_FREQUENCIES for f in freq):
                raise IcsRejected("recurrence_too_frequent", ",".join(freq))
            per_day = _per_day(one)
            if per_day > MAX_PER_DAY:
                raise IcsRejected("recurrence_too_frequent", f"{per_day} per day")
            estimate = days * per_day
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


def busy_intervals(
    data: bytes, *, start: datetime, end: datetime, timezone: str = "Asia/Shanghai"
) -> list[Interval]:
    """Busy times from `start` to `end` in an .ics, recurrences expanded; IcsRejected if hostile."""
    text = _prescan(data)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # the parser raises many types on garbage  # noqa: BLE001
        raise IcsRejected("malformed", type(exc).__name__) from exc
    if calendar.name != "VCALENDAR":
        raise IcsRejected("malformed", "not a VCALENDAR")
    _check_recurrence(calendar, end)
    tz = ZoneInfo(timezone)
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
    return merge(intervals)


def fetch_ics(url: str, *, timeout: float = 10.0) -> bytes:
    """GET a calendar feed with a size cap and a timeout; IcsRejected("unreachable") on failure."""
    import httpx

    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=3) as client:
            with client.stream("GET", url, headers={"Accept": "text/calendar"}) as response:
                if response.status_code != 200:
                    raise IcsRejected("unreachable", f"HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ICS_BYTES:
                        raise IcsRejected("too_large", f"> {MAX_ICS_BYTES} bytes")
                    chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise IcsRejected("unreachable", type(exc).__name__) from exc
    return b"".join(chunks)
