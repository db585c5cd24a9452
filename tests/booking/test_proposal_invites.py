"""The expert's proposal of a new time reaches the district's calendar as what it is (RFC 5546):
a REQUEST for the proposed time at the next SEQUENCE, TENTATIVE, the district's PARTSTAT
NEEDS-ACTION with RSVP=TRUE and a summary that says 改期提议; accepting it sends the session
confirmed at the new time, declining it sends the session back at the old time. Every file is
read by two parsers (icalendar and vobject) and the queued mail is checked part by part."""

from __future__ import annotations

import icalendar
import vobject
from sqlmodel import select

from booking.notifications import outbox
from booking.notifications.models import BookingNotification
from tests.booking.conftest import future_weekday, local
from tests.booking.test_api import body

DISTRICT = "beilin@example.org"
EXPERT = "bk1@example.org"


def mail(session, kind: str, recipient: str) -> BookingNotification:
    return session.exec(
        select(BookingNotification).where(
            BookingNotification.kind == kind, BookingNotification.recipient == recipient
        )
    ).one()


def event_of(ics: str) -> icalendar.Event:
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    return event


def proposed(client, h, *, confirm: bool = True) -> tuple[dict, dict, object]:
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    if confirm:
        booked = client.post(
            f"/api/bookings/{booked['id']}/confirm", headers=h["expert_user"]
        ).json()
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    view = client.post(
        f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"]
    ).json()
    return booked, view, day


def test_the_proposal_mail_carries_a_tentative_request_for_the_proposed_time(client, h, session):
    booked, view, day = proposed(client, h)
    row = mail(session, "proposal", DISTRICT)
    message = outbox.build_message(row, "hub@example.org", "https://hub.example.org")
    # The MIME parts: the three bodies as alternatives (the calendar one a REQUEST), the .ics
    # attached.
    assert [(p.get_content_type(), p.get_content_disposition() or "") for p in message.walk()] == [
        ("multipart/mixed", ""),
        ("multipart/alternative", ""),
        ("text/plain", ""),
        ("text/html", ""),
        ("text/calendar", ""),
        ("application/ics", "attachment"),
    ]
    plain, html, calendar, attachment = [p for p in message.walk() if not p.is_multipart()]
    assert calendar.get_param("method") == "REQUEST" and calendar.get_param("charset") == "UTF-8"
    ics = calendar.get_payload(decode=True).decode("utf-8")
    assert attachment.get_payload(decode=True).decode("utf-8") == ics
    assert f"https://hub.example.org/bookings/{booked['id']}" in plain.get_content()
    # icalendar: the proposed time, the same UID, the next SEQUENCE, tentative.
    event = event_of(ics)
    assert icalendar.Calendar.from_ical(ics)["METHOD"] == "REQUEST"
    assert str(event["UID"]) == booked["uid"]
    assert int(event["SEQUENCE"]) == booked["sequence"] + 1 == view["sequence"]
    assert event["DTSTART"].dt == local(day, 14) and event["DTEND"].dt == local(day, 15)
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["SUMMARY"]).startswith("改期提议：")
    # vobject reads the same, and the district is asked for an answer.
    parsed = vobject.readOne(ics)
    assert parsed.vevent.dtstart.value == local(day, 14)
    attendee = parsed.vevent.attendee
    assert attendee.value == f"mailto:{DISTRICT}"
    assert attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert attendee.params["RSVP"] == ["TRUE"]
    assert parsed.vevent.organizer.value == f"mailto:{EXPERT}"
    # The session itself has not moved: the old time stays held.
    assert view["start"][11:16] == "10:00" and view["status"] == "confirmed"


def test_accepting_sends_the_session_confirmed_at_the_new_time(client, h, session):
    booked, view, day = proposed(client, h)
    client.post(f"/api/bookings/{booked['id']}/proposal/accept", headers=h["district_user"])
    row = mail(session, "change", DISTRICT)
    assert row.ics_method == "REQUEST"
    event = event_of(row.ics)
    assert str(event["UID"]) == booked["uid"]
    assert int(event["SEQUENCE"]) == view["sequence"] + 1
    assert event["DTSTART"].dt == local(day, 14)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert not str(event["SUMMARY"]).startswith("改期提议")
    attendee = vobject.readOne(row.ics).vevent.attendee
    assert attendee.params["PARTSTAT"] == ["ACCEPTED"]  # the district itself accepted
    # The expert gets the notice with a PUBLISH copy of the moved session.
    notice = mail(session, "change", EXPERT)
    assert notice.ics_method == "PUBLISH"
    assert event_of(notice.ics)["DTSTART"].dt == local(day, 14)


def test_declining_sends_the_session_back_at_the_old_time(client, h, session):
    booked, view, day = proposed(client, h)
    client.post(f"/api/bookings/{booked['id']}/proposal/decline", headers=h["district_user"])
    row = mail(session, "move_declined", DISTRICT)
    message = outbox.build_message(row, "hub@example.org")
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    ics = calendar.get_payload(decode=True).decode("utf-8")
    event = event_of(ics)
    # A newer version than the proposal, at the old time and as it was: confirmed.
    assert str(event["UID"]) == booked["uid"]
    assert int(event["SEQUENCE"]) == view["sequence"] + 1
    assert event["DTSTART"].dt == local(day, 10) and event["DTEND"].dt == local(day, 11)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert not str(event["SUMMARY"]).startswith("改期提议")
    parsed = vobject.readOne(ics)
    assert parsed.vevent.dtstart.value == local(day, 10)
    assert parsed.vevent.attendee.params["PARTSTAT"] == ["ACCEPTED"]
    # The expert is told, in a notice that asks nothing of them.
    notice = mail(session, "move_declined", EXPERT)
    assert notice.ics_method == "PUBLISH" and "保持原时间" in notice.body


def test_a_proposal_on_an_unconfirmed_session_is_declined_back_to_a_tentative_request(
    client, h, session
):
    booked, view, day = proposed(client, h, confirm=False)
    client.post(f"/api/bookings/{booked['id']}/proposal/decline", headers=h["district_user"])
    event = event_of(mail(session, "move_declined", DISTRICT).ics)
    assert event["DTSTART"].dt == local(day, 10)
    assert str(event["STATUS"]) == "TENTATIVE"  # still waiting for the expert's confirmation
    assert int(event["SEQUENCE"]) == view["sequence"] + 1
