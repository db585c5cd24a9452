"""Calendar correctness (issue 16): hour limits count every session that used the expert's time,
busy calendars keep blocking for as long as they recur, old and declined events are handled,
and bookings lie on the expert's slot grid. Time-dependent cases inject `now`."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest
import vobject
from sqlmodel import select

from booking.busy import service as busy_service
from booking.feeds import service as feeds_service
from booking.notifications import outbox
from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from booking.trainings import service as trainings_service
from booking.trainings.models import RegistrationCreate
from marketplace import messages
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.errors import InvalidInput
from tests.booking.conftest import WORKDAY, book, future_weekday, local
from tests.booking.test_api import body, slot_starts
from tests.web.pages.conftest import form_token, login


def set_policy(session, world, **changes) -> None:
    schedule_service.set_availability(
        session=session,
        expert_id="BK1",
        data=AvailabilityUpdate(**{**WORKDAY, **changes}),
        user=world.staff,
    )


def district_books(session, world, start, *, now, hours=1):
    return book(session, world.district_user, "BK1", start, title="个案督导", now=now, hours=hours)


def weekdays_of_a_month_ahead() -> list[date]:
    today = utcnow().astimezone(LOCAL_TZ).date()
    first = (today.replace(day=1) + timedelta(days=62)).replace(day=1)
    return [
        first + timedelta(days=i) for i in range(20) if (first + timedelta(days=i)).weekday() < 5
    ]


# --- 1. limits count completed and no-show sessions -------------------------------------------


@pytest.mark.parametrize("outcome", ["complete", "no_show"])
def test_held_sessions_keep_counting_toward_the_monthly_limit(session, world, outcome):
    set_policy(session, world, monthly_limit_hours=3)
    days = weekdays_of_a_month_ahead()
    now = local(days[0] - timedelta(days=5), 8)
    booked = [district_books(session, world, local(day, 10), now=now) for day in days[:3]]
    for one in booked:
        sessions_service.confirm_booking(session=session, booking_id=one.id, user=world.expert_user)
    for one in booked[:2]:
        after = one.end_at + timedelta(minutes=5)
        if outcome == "complete":
            sessions_service.complete_booking(
                session=session, booking_id=one.id, user=world.expert_user, now=after
            )
        else:
            sessions_service.mark_no_show(
                session=session, booking_id=one.id, user=world.expert_user, now=after
            )
    later = booked[1].end_at + timedelta(hours=1)
    slots = schedule_service.list_slots(
        session=session,
        expert_id="BK1",
        start_day=days[4],
        end_day=days[6],
        duration_minutes=60,
        now=later,
    )
    assert slots == []
    with pytest.raises(InvalidInput) as refused:
        district_books(session, world, local(days[5], 10), now=later)
    assert refused.value.message == messages.SLOT_REJECTED["monthly_limit"]


# --- 2. busy calendars expand for the window asked --------------------------------------------


def weekly_ics(first: date, hour: int = 10) -> bytes:
    start = local(first, hour).strftime("%Y%m%dT%H%M%S")
    end = local(first, hour + 1).strftime("%Y%m%dT%H%M%S")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:weekly\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "RRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def starts(session, day, now) -> list[str]:
    slots = schedule_service.list_slots(
        session=session, expert_id="BK1", start_day=day, end_day=day, duration_minutes=60, now=now
    )
    return [s.astimezone(LOCAL_TZ).strftime("%H:%M") for s, _ in slots]


def test_an_uploaded_weekly_series_keeps_blocking_months_later_and_after_the_horizon_grows(
    session, world
):
    monday = future_weekday(1)
    while monday.weekday() != 0:
        monday += timedelta(days=1)
    uploaded_at = local(monday - timedelta(days=1), 9)
    busy_service.upload_busy_calendar(
        session=session,
        expert_id="BK1",
        data=weekly_ics(monday),
        name="例会",
        user=world.expert_user,
        now=uploaded_at,
    )
    # Stored for the window seen at upload (horizon 90 days + 30): 26 weeks on is beyond it.
    set_policy(session, world, horizon_days=366)
    far_monday = monday + timedelta(weeks=26)
    assert "10:00" not in starts(session, far_monday, uploaded_at)
    assert "11:00" in starts(session, far_monday, uploaded_at)
    # Months later (the clock moved on), the series still blocks its Mondays ...
    months_later = uploaded_at + timedelta(days=200)
    assert "10:00" not in starts(session, monday + timedelta(weeks=40), months_later)
    # ... and only its Mondays.
    assert "10:00" in starts(session, monday + timedelta(weeks=40, days=1), months_later)


# --- 3 and 8. old events, declined invitations (through the API) ------------------------------


def upload(client, h, *events: str):
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\n"
        + "".join(f"BEGIN:VEVENT\r\n{e}\r\nEND:VEVENT\r\n" for e in events)
        + "END:VCALENDAR\r\n"
    )
    return client.post(
        "/api/experts/BK1/busy-calendars/upload",
        files={"file": ("mine.ics", calendar.encode(), "text/calendar")},
        headers=h["expert_user"],
    )


def test_a_yearly_event_from_1965_blocks_and_an_event_from_1800_is_skipped_with_a_note(
    client, h, world
):
    day = future_weekday()
    birthday = (
        f"UID:birthday\r\nSUMMARY:生日\r\nDTSTART;TZID=Asia/Shanghai:1965{day:%m%d}T100000\r\n"
        f"DTEND;TZID=Asia/Shanghai:1965{day:%m%d}T110000\r\nRRULE:FREQ=YEARLY"
    )
    ancient = "UID:old\r\nSUMMARY:古老事件\r\nDTSTART:18000101T000000Z\r\nDTEND:18000101T010000Z"
    uploaded = upload(client, h, birthday, ancient)
    assert uploaded.status_code == 201, uploaded.json()
    assert "古老事件" in uploaded.json()["notes"]
    assert "10:00" not in slot_starts(client, h, day)
    assert "11:00" in slot_starts(client, h, day)
    # The expert sees the note beside the calendar on their availability page.
    assert login(client, world.expert_user.username).status_code == 303
    assert "古老事件" in client.get("/availability").text


def test_invitations_the_expert_declined_leave_the_time_free(client, h):
    day = future_weekday()

    def invitation(uid: str, hour: int, partstat: str) -> str:
        return (
            f"UID:{uid}\r\nDTSTART;TZID=Asia/Shanghai:{day:%Y%m%d}T{hour:02d}0000\r\n"
            f"DTEND;TZID=Asia/Shanghai:{day:%Y%m%d}T{hour + 1:02d}0000\r\n"
            "ORGANIZER:mailto:someone@example.org\r\n"
            f"ATTENDEE;PARTSTAT={partstat}:mailto:BK1@example.org"
        )

    uploaded = upload(
        client, h, invitation("no", 10, "DECLINED"), invitation("yes", 14, "ACCEPTED")
    )
    assert uploaded.status_code == 201, uploaded.json()
    starts_ = slot_starts(client, h, day)
    assert "10:00" in starts_ and "14:00" not in starts_


# --- 9. the slot grid ---------------------------------------------------------------------------


def test_bookings_off_the_slot_grid_are_refused_and_the_step_is_the_experts(client, h):
    day = future_weekday()
    off = client.post(
        "/api/bookings", json=body(day, 9) | off_grid(day, 9, 7), headers=h["district_user"]
    )
    assert off.status_code == 422
    assert off.json()["detail"] == messages.SLOT_REJECTED["off_grid"].format(step=30)
    quarter = client.post(
        "/api/bookings", json=body(day, 9) | off_grid(day, 9, 15), headers=h["district_user"]
    )
    assert quarter.status_code == 422
    policy = client.get("/api/experts/BK1/availability", headers=h["district_user"]).json()
    assert policy["slot_step_minutes"] == 30
    changed = client.put(
        "/api/experts/BK1/availability",
        json={**WORKDAY, "slot_step_minutes": 15},
        headers=h["expert_user"],
    )
    assert changed.status_code == 200 and changed.json()["slot_step_minutes"] == 15
    assert "09:15" in slot_starts(client, h, day)
    booked = client.post(
        "/api/bookings", json=body(day, 9) | off_grid(day, 9, 15), headers=h["district_user"]
    )
    assert booked.status_code == 201, booked.json()
    odd = client.put(
        "/api/experts/BK1/availability",
        json={**WORKDAY, "slot_step_minutes": 20},
        headers=h["expert_user"],
    )
    assert odd.status_code == 422


def off_grid(day: date, hour: int, minute: int) -> dict:
    start = local(day, hour, minute)
    return {
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=45)).isoformat(),
    }


# --- 5. invitations calendar clients act on -----------------------------------------------------


def confirmed_session(session, world, *, hour=10):
    day = future_weekday()
    booking = district_books(
        session, world, local(day, hour), now=local(day, hour) - timedelta(days=3)
    )
    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=world.expert_user)
    return booking


def mails(session, kind: str) -> dict[str, BookingNotification]:
    rows = session.exec(select(BookingNotification).where(BookingNotification.kind == kind)).all()
    return {r.recipient: r for r in rows}


def parts(message) -> list[tuple[str, ...]]:
    return [(p.get_content_type(), p.get_content_disposition() or "") for p in message.walk()]


def test_an_invitation_is_alternative_text_html_and_calendar_plus_an_ics_attachment(session, world):
    booking = confirmed_session(session, world)
    row = mails(session, "confirmation")["beilin@example.org"]
    message = outbox.build_message(row, "hub@example.org", "https://hub.example.org")
    assert parts(message) == [
        ("multipart/mixed", ""),
        ("multipart/alternative", ""),
        ("text/plain", ""),
        ("text/html", ""),
        ("text/calendar", ""),
        ("application/ics", "attachment"),
    ]
    plain, html, calendar, attachment = [p for p in message.walk() if not p.is_multipart()]
    link = f"https://hub.example.org/bookings/{booking.id}"
    assert plain.get_content_charset() == "utf-8" and link in plain.get_content()
    assert f'href="{link}"' in html.get_content() and "个案督导" in html.get_content()
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_param("charset") == "UTF-8"
    assert attachment.get_filename() == "invite.ics"
    inline = calendar.get_payload(decode=True).decode("utf-8")
    assert attachment.get_payload(decode=True).decode("utf-8") == inline
    # Two independent parsers read the same invitation.
    parsed = vobject.readOne(inline)
    assert parsed.method.value == "REQUEST"
    attendee = parsed.vevent.attendee
    assert attendee.value == "mailto:beilin@example.org"
    assert attendee.params["RSVP"] == ["TRUE"] and attendee.params["PARTSTAT"] == ["ACCEPTED"]
    assert parsed.vevent.organizer.value == "mailto:bk1@example.org"
    [event] = icalendar.Calendar.from_ical(inline).walk("VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:bk1@example.org"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(event["UID"]) == booking.uid and int(event["SEQUENCE"]) == booking.sequence


def test_the_organizer_gets_a_notice_with_a_publish_copy_not_a_request(session, world):
    confirmed_session(session, world)
    row = mails(session, "confirmation")["bk1@example.org"]
    message = outbox.build_message(row, "hub@example.org", "https://hub.example.org")
    assert parts(message) == [
        ("multipart/mixed", ""),
        ("multipart/alternative", ""),
        ("text/plain", ""),
        ("text/html", ""),
        ("application/ics", "attachment"),
    ]
    copy = message.get_payload()[1].get_payload(decode=True).decode("utf-8")
    assert vobject.readOne(copy).method.value == "PUBLISH"
    assert icalendar.Calendar.from_ical(copy)["METHOD"] == "PUBLISH"


def test_an_organizer_without_an_address_is_the_hubs_sender_mailbox(session, world):
    world.expert_user.email = None
    session.add(world.expert_user)
    session.flush()
    confirmed_session(session, world)
    row = mails(session, "confirmation")["beilin@example.org"]
    message = outbox.build_message(row, "hub@example.org")
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    parsed = vobject.readOne(calendar.get_payload(decode=True).decode("utf-8"))
    assert parsed.vevent.organizer.value == "mailto:hub@example.org"


# --- 7. feeds tell the truth -------------------------------------------------------------------


def feed_events(session, world, now) -> dict[str, dict]:
    token = feeds_service.issue_feed_token(
        session=session, owner_type="expert", owner_id="BK1", user=world.expert_user
    )
    data = feeds_service.feed_for_token(
        session=session, token=token, now=now, organizer_fallback="hub@example.org"
    ).decode("utf-8")
    by_icalendar = {
        str(e["UID"]): {"status": str(e["STATUS"]), "organizer": str(e["ORGANIZER"])}
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }
    by_vobject = {
        e.uid.value: {"status": e.status.value, "organizer": e.organizer.value}
        for e in vobject.readOne(data).vevent_list
    }
    assert by_icalendar == by_vobject
    return by_icalendar


def test_feeds_carry_honest_statuses_an_organizer_and_drop_old_cancellations(session, world):
    held = confirmed_session(session, world, hour=9)
    missed = confirmed_session(session, world, hour=11)
    cancelled = confirmed_session(session, world, hour=13)
    pending = district_books(
        session, world, local(future_weekday(), 15), now=held.start_at - timedelta(days=3)
    )
    after = missed.end_at + timedelta(minutes=5)
    sessions_service.complete_booking(
        session=session, booking_id=held.id, user=world.expert_user, now=after
    )
    sessions_service.mark_no_show(
        session=session, booking_id=missed.id, user=world.expert_user, now=after
    )
    sessions_service.cancel_booking(
        session=session, booking_id=cancelled.id, reason="停课", user=world.district_user
    )
    events = feed_events(session, world, utcnow())
    assert {uid: e["status"] for uid, e in events.items()} == {
        held.uid: "CONFIRMED",
        missed.uid: "CONFIRMED",
        cancelled.uid: "CANCELLED",
        pending.uid: "TENTATIVE",
    }
    assert {e["organizer"] for e in events.values()} == {"mailto:bk1@example.org"}
    later = feed_events(session, world, utcnow() + timedelta(days=31))
    assert cancelled.uid not in later and held.uid in later


# --- 4. trainings: every registered district hears of changes -----------------------------------


def test_registered_districts_get_training_changes_and_cancellations_and_see_them_in_their_feed(
    session, world
):
    day = future_weekday(10)
    training = book(
        session,
        world.district_user,
        "BK1",
        local(day, 14),
        title="危机干预培训",
        kind="training",
        hours=2,
        capacity=50,
    )
    sessions_service.confirm_booking(
        session=session, booking_id=training.id, user=world.expert_user
    )
    trainings_service.register_for_training(
        session=session,
        booking_id=training.id,
        data=RegistrationCreate(school="雁塔一中", participants=10),
        user=world.other_district_user,
    )
    sessions_service.reschedule_booking(
        session=session,
        booking_id=training.id,
        start=local(day, 15),
        end=local(day, 17),
        user=world.staff,
    )
    sessions_service.cancel_booking(
        session=session, booking_id=training.id, reason="讲师生病", user=world.staff
    )
    for kind, method in (("change", "REQUEST"), ("cancellation", "CANCEL")):
        row = mails(session, kind)["yanta@example.org"]
        assert row.ics_method == method
        parsed = vobject.readOne(row.ics)
        assert "mailto:yanta@example.org" in [a.value for a in parsed.vevent.attendee_list]
    token = feeds_service.issue_feed_token(
        session=session,
        owner_type="district",
        owner_id=str(world.other_district_user.district_id),
        user=world.other_district_user,
    )
    feed = feeds_service.feed_for_token(session=session, token=token).decode("utf-8")
    [event] = vobject.readOne(feed).vevent_list
    assert event.uid.value == training.uid and event.status.value == "CANCELLED"


# --- 6. the expert's reschedule is a proposal ----------------------------------------------------


def test_an_experts_reschedule_is_a_proposal_the_district_accepts(client, h, session):
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    client.post(f"/api/bookings/{booked['id']}/confirm", headers=h["expert_user"])
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    proposed = client.post(
        f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"]
    )
    assert proposed.status_code == 200, proposed.json()
    view = proposed.json()
    # Still confirmed at the old time, which stays held; the new time is held for it too.
    assert view["status"] == "confirmed" and view["start"][11:16] == "10:00"
    assert view["proposed_start"][11:16] == "14:00"
    assert "10:00" not in slot_starts(client, h, day)
    assert "14:00" not in slot_starts(client, h, day)
    # The district is asked (in-app and by mail), not told it already accepted.
    mail = mails(session, "proposal")
    assert set(mail) == {"beilin@example.org"}
    assert "14:00" in mail["beilin@example.org"].body
    # Only the booking district (or staff) answers.
    assert (
        client.post(
            f"/api/bookings/{booked['id']}/proposal/accept", headers=h["expert_user"]
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/bookings/{booked['id']}/proposal/accept", headers=h["other_district_user"]
        ).status_code
        == 404  # another district does not see the booking at all
    )
    accepted = client.post(
        f"/api/bookings/{booked['id']}/proposal/accept", headers=h["district_user"]
    )
    assert accepted.status_code == 200
    moved = accepted.json()
    assert moved["start"][11:16] == "14:00" and moved["status"] == "confirmed"
    assert moved["proposed_start"] is None and moved["sequence"] == view["sequence"] + 1
    assert "10:00" in slot_starts(client, h, day)
    invite = mails(session, "change")["beilin@example.org"]
    attendee = vobject.readOne(invite.ics).vevent.attendee
    assert attendee.params["PARTSTAT"] == ["ACCEPTED"]  # the district itself accepted
    again = client.post(f"/api/bookings/{booked['id']}/proposal/accept", headers=h["district_user"])
    assert again.status_code == 409


def test_a_declined_proposal_keeps_the_old_time_and_tells_the_expert(client, h, session):
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    client.post(f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"])
    declined = client.post(
        f"/api/bookings/{booked['id']}/proposal/decline", headers=h["district_user"]
    )
    assert declined.status_code == 200
    kept = declined.json()
    assert kept["start"][11:16] == "10:00" and kept["proposed_start"] is None
    # The proposal and the answer each sent the district's calendar a newer version.
    assert kept["status"] == "requested" and kept["sequence"] == booked["sequence"] + 2
    assert "14:00" in slot_starts(client, h, day)
    # The expert is told; the district's calendar gets the session back at the old time.
    assert set(mails(session, "move_declined")) == {"bk1@example.org", "beilin@example.org"}


def test_a_districts_reschedule_still_moves_the_session_at_once(client, h):
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    client.post(f"/api/bookings/{booked['id']}/confirm", headers=h["expert_user"])
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    moved = client.post(
        f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["district_user"]
    ).json()
    assert moved["start"][11:16] == "14:00" and moved["status"] == "requested"
    assert moved["proposed_start"] is None


def test_the_district_answers_a_proposal_on_the_bookings_page(client, h, world):
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    client.post(f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"])
    assert login(client, world.district_user.username).status_code == 303
    page = client.get("/bookings")
    assert "改期提议" in page.text and "接受新时间" in page.text
    answered = client.post(
        f"/bookings/{booked['id']}/proposal/accept",
        data={"csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    after = client.get(f"/api/bookings/{booked['id']}", headers=h["district_user"]).json()
    assert after["start"][11:16] == "14:00" and after["proposed_start"] is None
