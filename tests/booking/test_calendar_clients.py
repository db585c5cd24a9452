"""What real calendar clients need from the hub's invitation mail (issue 16).

Every assertion names the published client behaviour it protects. Sources:
- [OX-V034x] Microsoft, [MS-STANXICAL] Outlook notes on RFC 6047 (iMIP) V0341–V0343,
  https://msdn.microsoft.com/en-us/library/ee624811(v=exchg.80).aspx — Outlook treats a part as
  iMIP only if its Content-Type is text/calendar; the Content-Type's method parameter must equal
  the METHOD in the object; Outlook 2007 looks for iMIP only in the FIRST child of a
  multipart/mixed message, anything later is an ordinary .ics attachment.
- [OX-MAIL] Microsoft, [MS-OXCMAIL] 2.1.3.3.8 Calendar message: multipart/alternative with
  text/plain, text/html and text/calendar, https://learn.microsoft.com/en-us/openspecs/
  exchange_server_protocols/ms-oxcmail/8e662849-42e7-4ea3-98d9-8f3b94525a96
- [OX-SEQ] Microsoft, [MS-OXOCAL] 3.1.5.4: an update or a cancellation carries a sequence
  number greater than any sent before; a request whose sequence is lower than the stored
  meeting's is out of date and not applied.
- [OX-TZID] Microsoft, [MS-OXCICAL] 2.1.3.1.1.20.10.1 TZID: a local DTSTART is accompanied by a
  TZID referencing a VTIMEZONE in the object (Outlook imports the zone from it).
- [CALCONNECT] CalConnect developer guide, iMIP (RFC 6047),
  https://calconnect-devguide-trial.firebaseapp.com/Scheduling/iMIP — the interoperable shape
  used by Google and Apple: multipart/mixed [multipart/alternative [text/plain, text/html,
  text/calendar; method=REQUEST], application/ics attachment]; ORGANIZER and ATTENDEE are
  mailto: URIs; REQUEST and CANCEL go from the organizer to attendees.
- [GMAIL-UID] "ICS update not working in Google Calendar" (itecnote.com): Gmail matches an
  update to the event by UID; a changed UID becomes a second event. [GMAIL-RSVP] "When I add
  METHOD:REQUEST, Gmail stops recognizing it" (parpostlasbird.blogspot.com, 2024): Gmail shows
  the accept buttons and a tentative event for a REQUEST whose ORGANIZER is a mailto and whose
  ATTENDEE carries PARTSTAT=NEEDS-ACTION;RSVP=TRUE, with DTSTAMP and SEQUENCE present.
- [APPLE] Apple Mail hands the text/calendar (or .ics) of an invitation to Calendar, which
  matches it to the stored event by UID and takes the higher SEQUENCE (RFC 5546 §2.1.5, as in
  [CALCONNECT]); an event without a VTIMEZONE for its TZID is shown in the device's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import vobject
from sqlmodel import col, select

from booking.notifications import outbox
from booking.notifications.models import BookingNotification
from tests.booking.conftest import future_weekday, local
from tests.booking.test_api import body

DISTRICT = "beilin@example.org"
EXPERT = "bk1@example.org"


def district_mails(session) -> list[BookingNotification]:
    return list(
        session.exec(
            select(BookingNotification)
            .where(BookingNotification.recipient == DISTRICT)
            .order_by(col(BookingNotification.id))
        ).all()
    )


def a_session_lived_through(client, h) -> dict:
    """Booked, confirmed, moved by the expert's proposal (accepted), then cancelled."""
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    client.post(f"/api/bookings/{booked['id']}/confirm", headers=h["expert_user"])
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    client.post(f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"])
    client.post(f"/api/bookings/{booked['id']}/proposal/accept", headers=h["district_user"])
    cancelled = client.post(
        f"/api/bookings/{booked['id']}/cancel",
        json={"reason": "学校临时安排考试"},
        headers=h["district_user"],
    )
    assert cancelled.status_code == 200, cancelled.json()
    return booked


def calendar_part(message):
    return next(p for p in message.walk() if p.get_content_type() == "text/calendar")


def test_the_method_is_in_the_calendar_and_in_the_content_type_alike(client, h, session):
    a_session_lived_through(client, h)
    rows = district_mails(session)
    assert [r.kind for r in rows] == [
        "request",
        "confirmation",
        "proposal",
        "change",
        "cancellation",
    ]
    for row in rows:
        message = outbox.build_message(row, "hub@example.org", "https://hub.example.org")
        part = calendar_part(message)
        ics = part.get_payload(decode=True).decode("utf-8")
        # [OX-V034x] V0341: iMIP is recognised only in a text/calendar part.
        assert part.get_content_type() == "text/calendar"
        # [OX-V034x] V0342 / [CALCONNECT]: the Content-Type method equals the object's METHOD.
        method = icalendar.Calendar.from_ical(ics)["METHOD"]
        assert part.get_param("method") == method == vobject.readOne(ics).method.value
        assert method == ("CANCEL" if row.kind == "cancellation" else "REQUEST")
        # Chinese summaries: the charset is declared, so no client guesses Latin-1.
        assert part.get_param("charset") == "UTF-8"


def test_the_calendar_part_sits_in_the_first_child_of_the_mixed_message(client, h, session):
    a_session_lived_through(client, h)
    for row in district_mails(session):
        message = outbox.build_message(row, "hub@example.org")
        assert message.get_content_type() == "multipart/mixed"
        first, *rest = message.get_payload()
        # [OX-V034x] V0343: Outlook 2007 looks for iMIP in the first child only;
        # [OX-MAIL] / [CALCONNECT]: that child is the multipart/alternative of the three bodies.
        assert first.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in first.get_payload()] == [
            "text/plain",
            "text/html",
            "text/calendar",
        ]
        # [CALCONNECT]: the same object again as an .ics attachment for clients that read only
        # attachments (Gmail's "add to calendar", Apple Mail).
        [attachment] = rest
        assert attachment.get_content_disposition() == "attachment"
        assert attachment.get_filename().endswith(".ics")
        assert attachment.get_payload(decode=True) == calendar_part(message).get_payload(
            decode=True
        )


def test_uid_is_stable_and_sequence_increases_across_every_update(client, h, session):
    booked = a_session_lived_through(client, h)
    events = [
        icalendar.Calendar.from_ical(r.ics).walk("VEVENT")[0] for r in district_mails(session)
    ]
    # [GMAIL-UID] / [APPLE]: every version names the same event, or it becomes a second one.
    assert {str(e["UID"]) for e in events} == {booked["uid"]}
    sequences = [int(e["SEQUENCE"]) for e in events]
    # [OX-SEQ]: each update and the cancellation carries a higher SEQUENCE than any before
    # (request and confirmation go out together at 0 and 1; every later one is newer).
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences), sequences


def test_every_version_has_dtstamp_in_utc_and_an_organizer_mailbox(client, h, session):
    a_session_lived_through(client, h)
    before = datetime.now(UTC) - timedelta(minutes=5)
    for row in district_mails(session):
        message = outbox.build_message(row, "hub@example.org")
        ics = calendar_part(message).get_payload(decode=True).decode("utf-8")
        [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
        # [GMAIL-RSVP] / RFC 5546 §3.2: DTSTAMP is required in every iTIP message, in UTC.
        stamp = event["DTSTAMP"].dt
        assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
        assert stamp >= before
        # [CALCONNECT] / [GMAIL-RSVP]: ORGANIZER is a real mailto, the expert's own address.
        assert str(event["ORGANIZER"]) == f"mailto:{EXPERT}"
        assert vobject.readOne(ics).vevent.organizer.value == f"mailto:{EXPERT}"


def test_a_new_request_asks_the_attendee_for_an_answer(client, h, session):
    a_session_lived_through(client, h)
    request, proposal = (r for r in district_mails(session) if r.kind in ("request", "proposal"))
    for row in (request, proposal):
        attendee = vobject.readOne(row.ics).vevent.attendee
        # [GMAIL-RSVP] / [CALCONNECT]: a mailto attendee who still has to answer, asked to reply.
        assert attendee.value == f"mailto:{DISTRICT}"
        assert attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
        assert attendee.params["RSVP"] == ["TRUE"]


def test_every_tzid_used_has_its_vtimezone(client, h, session):
    a_session_lived_through(client, h)
    for row in district_mails(session):
        calendar = icalendar.Calendar.from_ical(row.ics)
        defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
        used = {
            event[name].params["TZID"]
            for event in calendar.walk("VEVENT")
            for name in ("DTSTART", "DTEND")
            if "TZID" in event[name].params
        }
        # [OX-TZID] / [APPLE]: a local time without its VTIMEZONE is shifted or misread.
        assert used and used <= defined, (used, defined)
        # vobject resolves the zone from the VTIMEZONE the file carries.
        start = vobject.readOne(row.ics).vevent.dtstart.value
        assert start.utcoffset() == timedelta(hours=8)


def test_a_cancel_keeps_the_uid_bumps_the_sequence_and_says_cancelled(client, h, session):
    booked = a_session_lived_through(client, h)
    *earlier, cancel = district_mails(session)
    assert cancel.kind == "cancellation"
    parsed = vobject.readOne(cancel.ics)
    [event] = icalendar.Calendar.from_ical(cancel.ics).walk("VEVENT")
    # [OX-SEQ] / [CALCONNECT]: CANCEL names the same UID at a newer SEQUENCE, from the organizer.
    assert parsed.method.value == "CANCEL" and str(event["UID"]) == booked["uid"]
    assert int(event["SEQUENCE"]) > max(
        int(icalendar.Calendar.from_ical(r.ics).walk("VEVENT")[0]["SEQUENCE"]) for r in earlier
    )
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["ORGANIZER"]) == f"mailto:{EXPERT}"
    # The organizer's own notice is a PUBLISH copy, never a CANCEL asking them to act.
    notice = session.exec(
        select(BookingNotification).where(
            BookingNotification.recipient == EXPERT,
            BookingNotification.kind == "cancellation",
        )
    ).one()
    assert notice.ics_method == "PUBLISH"
    assert icalendar.Calendar.from_ical(notice.ics)["METHOD"] == "PUBLISH"
