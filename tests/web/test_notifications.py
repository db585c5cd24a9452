"""In-app notifications: every event that concerns a user lands in their inbox with a link, in
the event's own transaction; the API and the inbox page list them and mark them read."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from booking.jobs import ESCALATION
from booking.notifications import service as notifications_service
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from marketplace.accounts.models import User
from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import approve_application
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import (
    create_application,
    reject_application,
    withdraw_application,
)
from marketplace.audit.service import Actor
from marketplace.clock import DEFAULT_ZONE, in_zone
from marketplace.notifications.models import Notification
from marketplace.notifications.service import notify, unread_count
from marketplace.services.models import ServiceCreate
from marketplace.services.service import create_service, today
from marketplace.vocabulary import Role
from tests.booking.conftest import ALL_KINDS, WORKDAY, add_experts, book, future_weekday, local
from tests.conftest import auth_headers, expert_record, make_service, make_user
from tests.matching.db_support import fake_relevance, file_request, seed_pool

ACTOR = Actor.system("test")
SYSTEM = system_principal("test")


def inbox(session: Session, user: User) -> list[Notification]:
    return list(
        session.exec(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        ).all()
    )


@pytest.fixture
def people(session: Session):
    add_experts(session, expert_record(id="NX1", name="张明", service_types=ALL_KINDS))
    staff = make_user(session, Role.staff)
    schedule_service.set_availability(
        session=session, expert_id="NX1", data=AvailabilityUpdate(**WORKDAY), user=staff
    )
    return {
        "staff": staff,
        "expert": make_user(session, Role.expert, expert_id="NX1"),
        "coordinator": make_user(session, Role.district),
        "other_district": make_user(session, Role.district, district="西安市/雁塔区"),
    }


def _book(session, people, hour=10, kind="supervision"):
    start = local(future_weekday(), hour)
    return book(session, people["coordinator"], "NX1", start, title="个案督导", kind=kind)


def test_a_booking_request_reaches_the_expert_and_its_confirmation_the_coordinator(session, people):
    booking = _book(session, people)
    [request] = inbox(session, people["expert"])
    assert request.kind == "booking_requested"
    assert "个案督导" in request.title and "碑林区" in request.title
    assert request.link == f"/bookings#booking-{booking.id}"
    assert inbox(session, people["coordinator"]) == []  # they asked; no news to them

    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=people["expert"])
    [confirmed] = inbox(session, people["coordinator"])
    assert confirmed.kind == "booking_confirmed" and "张明" in confirmed.title
    assert inbox(session, people["other_district"]) == []


@pytest.mark.parametrize(
    ("action", "kind"),
    [("decline", "booking_declined"), ("cancel", "booking_cancelled")],
)
def test_a_declined_or_cancelled_booking_tells_the_coordinator(session, people, action, kind):
    booking = _book(session, people)
    if action == "decline":
        sessions_service.decline_booking(
            session=session, booking_id=booking.id, reason="时间冲突", user=people["expert"]
        )
    else:
        sessions_service.cancel_booking(
            session=session, booking_id=booking.id, reason="时间冲突", user=people["expert"]
        )
    assert [n.kind for n in inbox(session, people["coordinator"])] == [kind]


def test_a_rescheduled_session_and_its_reminder_are_each_one_entry(session, people):
    booking = _book(session, people)
    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=people["expert"])
    new_start = booking.start_at + timedelta(hours=3)
    # The expert's move is a proposal the coordinator is asked about, then accepts.
    sessions_service.reschedule_booking(
        session=session,
        booking_id=booking.id,
        start=new_start,
        end=new_start + timedelta(hours=1),
        user=people["expert"],
    )
    sessions_service.accept_proposal(
        session=session, booking_id=booking.id, user=people["coordinator"]
    )
    eve = new_start - timedelta(hours=20)
    notifications_service.enqueue_reminders(session=session, now=eve)
    notifications_service.enqueue_reminders(session=session, now=eve + timedelta(minutes=10))
    entries = inbox(session, people["coordinator"])
    assert [n.kind for n in entries] == [
        "booking_confirmed",
        "booking_move_proposed",  # the proposal: nothing has moved yet
        "booking_rescheduled",  # the move, once accepted
        "booking_reminder",
    ]
    proposal = entries[1].title
    assert proposal.startswith("专家提议改期")
    assert f"提议改至 {in_zone(new_start, DEFAULT_ZONE, '%m-%d %H:%M')}" in proposal


def test_an_unanswered_crisis_request_alerts_every_staff_member(session, people):
    now = local(future_weekday(), 9)
    start = now + timedelta(minutes=30)
    book(
        session,
        people["coordinator"],
        "NX1",
        start,
        title="学生危机事件",
        kind="crisis_support",
        now=now,
    )
    notifications_service.escalate_unanswered_crisis(
        session=session, user=ESCALATION, now=now + timedelta(minutes=31)
    )
    [alert] = inbox(session, people["staff"])
    assert alert.kind == "crisis_escalation" and "学生危机事件" in alert.title


def test_a_confirmed_match_tells_the_district_which_experts_it_got(client, app, session, settings):
    app.state.match_relevance = fake_relevance
    seed_pool(session)
    coordinator = make_user(session, Role.district)
    request = file_request(session, user=coordinator, district=None)
    staff = auth_headers(make_user(session, Role.staff), settings)
    run = client.post("/api/matching/runs", json={}, headers=staff).json()
    client.post(f"/api/matching/runs/{run['id']}/confirm", headers=staff)
    [matched] = inbox(session, coordinator)
    assert matched.kind == "request_matched"
    assert matched.link == f"/requests/{request.id}"
    assert "危机甲" in matched.title


def _application(session, district_id, quantity):
    service = make_service(
        session, name="量表授权", kind="assessment_licence", unit="份", days=200, user=SYSTEM
    )
    return create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=quantity, purpose="测评"),
        district_id=district_id,
        user=SYSTEM,
    )


@pytest.mark.parametrize(
    ("decision", "kind", "words"),
    [
        ("full", "application_approved", "4 份"),
        ("part", "application_partly_approved", "批准 2 份（申请 4 份）"),
        ("reject", "application_rejected", "预算不足"),
    ],
)
def test_an_application_decision_reaches_the_district(session, people, decision, kind, words):
    coordinator = people["coordinator"]
    application = _application(session, coordinator.district_id, 4)
    if decision == "reject":
        reject_application(
            session=session, application_id=application.id, reason="预算不足", user=SYSTEM
        )
    else:
        amount = Decimal(4 if decision == "full" else 2)
        approve_application(
            session=session, application_id=application.id, quantity=amount, user=SYSTEM
        )
    [entry] = inbox(session, coordinator)
    assert entry.kind == kind and words in entry.title
    assert entry.link == f"/applications#application-{application.id}"


def test_an_event_rolled_back_leaves_no_notification(session, people):
    savepoint = session.begin_nested()
    _book(session, people)
    savepoint.rollback()
    assert inbox(session, people["expert"]) == []


def test_the_same_event_is_never_two_entries(session, people):
    user = people["coordinator"]
    for _ in range(2):
        notify(session=session, user_ids=[user.id], kind="system", title="x", dedupe_key="k:1")
    assert len(inbox(session, user)) == 1


def test_the_api_lists_unread_entries_and_marks_one_or_all_read(client, session, settings, people):
    user = people["coordinator"]
    for i in range(3):
        notify(
            session=session,
            user_ids=[user.id],
            kind="system",
            title=f"第{i}条",
            link="/bookings",
            dedupe_key=f"t:{i}",
        )
    headers = auth_headers(user, settings)
    unread = client.get("/api/notifications?unread=true", headers=headers).json()
    assert len(unread) == 3
    assert set(unread[0]) == {"id", "kind", "title", "link", "created_at", "read_at"}
    one = client.post(f"/api/notifications/{unread[0]['id']}/read", headers=headers)
    assert one.status_code == 200 and one.json()["read_at"] is not None
    assert len(client.get("/api/notifications?unread=true", headers=headers).json()) == 2
    assert client.post("/api/notifications/read-all", headers=headers).json() == {
        "updated": 2,
        "unread": 0,
    }
    assert client.get("/api/notifications?unread=true", headers=headers).json() == []
    assert len(client.get("/api/notifications", headers=headers).json()) == 3


def test_nobody_reads_someone_elses_notification(client, session, settings, people):
    owner, other = people["coordinator"], people["other_district"]
    notify(session=session, user_ids=[owner.id], kind="system", title="私有", dedupe_key="p")
    session.commit()
    [entry] = inbox(session, owner)
    response = client.post(
        f"/api/notifications/{entry.id}/read", headers=auth_headers(other, settings)
    )
    assert response.status_code == 404 and response.json()["detail"] == "通知不存在"
    assert client.get("/api/notifications", headers=auth_headers(other, settings)).json() == []


def test_the_badge_counts_unread_and_the_inbox_opens_an_entry_at_its_record(
    client, session, settings, people
):
    user = people["expert"]
    booking = _book(session, people)
    headers = auth_headers(user, settings)
    page = client.get("/", headers=headers).text
    assert 'aria-label="通知（1 条未读）"' in page
    inbox_page = client.get("/notifications", headers=headers).text
    assert "新的预约" in inbox_page and "个案督导" in inbox_page
    [entry] = inbox(session, user)
    opened = client.post(f"/notifications/{entry.id}/open", headers=headers, follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/bookings#booking-{booking.id}"
    assert "条未读" not in client.get("/", headers=headers).text


def _center_staff(session, role: Role, center: str, name: str = "") -> User:
    from marketplace.centers.service import center_named
    from tests.booking.conftest import quick_user

    user = quick_user(session, role, f"notice-{center}{name}")
    user.center_id = center_named(session=session, name=center).id
    session.add(user)
    session.flush()
    return user


def test_a_crisis_escalation_reaches_the_districts_city_center_and_the_province(session, people):
    xian = _center_staff(session, Role.city_staff, "西安市")
    baoji = _center_staff(session, Role.city_staff, "宝鸡市")
    booking = _book(session, people, kind="crisis_support")
    notifications_service.escalate_unanswered_crisis(
        session=session, user=ESCALATION, now=booking.created_at + timedelta(minutes=31)
    )
    for user in (people["staff"], xian):
        assert [n.kind for n in inbox(session, user)] == ["crisis_escalation"]
    assert inbox(session, baoji) == []


def test_a_new_application_reaches_the_staff_of_the_center_that_owns_the_service(session, people):
    xian = _center_staff(session, Role.city_staff, "西安市")
    baoji = _center_staff(session, Role.city_staff, "宝鸡市")
    coordinator = people["coordinator"]
    # A province-wide service: province staff decide it.
    _application(session, coordinator.district_id, 2)
    assert [n.kind for n in inbox(session, people["staff"])] == ["application_submitted"]
    assert inbox(session, xian) == [] and inbox(session, baoji) == []
    # 西安's own service: 西安's staff decide it, nobody else is told.
    service = create_service(
        session=session,
        data=ServiceCreate(
            name="西安市热线",
            kind="hotline",
            unit="次",
            quantity=10,
            valid_from=today() - timedelta(days=1),
            valid_to=today() + timedelta(days=200),
        ),
        user=xian,
    )
    create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=1, purpose="热线转介"),
        district_id=coordinator.district_id,
        user=SYSTEM,
    )
    [notice] = inbox(session, xian)
    assert notice.kind == "application_submitted" and "西安市热线" in notice.title
    assert notice.link.startswith("/applications#application-")
    assert len(inbox(session, people["staff"])) == 1 and inbox(session, baoji) == []


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [("approve", "已批准"), ("reject", "未批准"), ("withdraw", "已撤回")],
)
def test_a_pending_approval_notice_is_settled_for_every_recipient_once_anybody_decides(
    session, people, decision, outcome
):
    xian = _center_staff(session, Role.city_staff, "西安市")
    colleague = _center_staff(session, Role.city_staff, "西安市", "-2")
    coordinator = people["coordinator"]
    service = create_service(
        session=session,
        data=ServiceCreate(
            name="西安市热线",
            kind="hotline",
            unit="次",
            quantity=10,
            valid_from=today() - timedelta(days=1),
            valid_to=today() + timedelta(days=200),
        ),
        user=xian,
    )
    application = create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=1, purpose="热线转介"),
        district_id=coordinator.district_id,
        user=SYSTEM,
    )
    assert [n.read_at for n in inbox(session, xian) + inbox(session, colleague)] == [None, None]
    # The province (or a colleague, or the district itself) settles it; the city staff who
    # were told are no longer asked to decide.
    if decision == "approve":
        approve_application(
            session=session, application_id=application.id, quantity=None, user=people["staff"]
        )
    elif decision == "reject":
        reject_application(
            session=session, application_id=application.id, reason="已有热线", user=colleague
        )
    else:
        withdraw_application(session=session, application_id=application.id, user=coordinator)
    for user in (xian, colleague):
        [notice] = inbox(session, user)
        assert notice.read_at is not None
        assert outcome in notice.title and "待审批" not in notice.title
        assert notice.kind == "application_submitted"
    assert unread_count(session=session, user_id=xian.id) == 0


def test_a_crisis_request_reaches_the_city_center_and_the_province_as_it_is_filed(
    client, session, settings, people
):
    """Not after the escalation job's next run: the notice is written with the request."""
    xian = _center_staff(session, Role.city_staff, "西安市")
    baoji = _center_staff(session, Role.city_staff, "宝鸡市")
    owner = auth_headers(people["coordinator"], settings)
    session.commit()
    body = {
        "text": "初二有个学生这两天总说活着没意思，班主任很担心，想请专家尽快来学校看看",
        "service_type": "crisis_support",
        "format": "onsite",
        "hours": 2,
        "window_start": str(today()),
        "window_end": str(today() + timedelta(days=7)),
    }

    def crisis_notices(user: User) -> list[Notification]:
        session.expire_all()
        return [n for n in inbox(session, user) if n.kind == "crisis_request"]

    normal = client.post("/api/requests", json={**body, "submit": True}, headers=owner)
    assert normal.status_code == 201, normal.json()
    assert crisis_notices(people["staff"]) == []  # an ordinary request is no alarm

    filed = client.post(
        "/api/requests", json={**body, "urgency": "crisis", "submit": True}, headers=owner
    )
    assert filed.status_code == 201, filed.json()
    request_id = filed.json()["id"]
    for user in (people["staff"], xian):
        (notice,) = crisis_notices(user)
        assert notice.link == f"/requests/{request_id}"
        assert notice.title.startswith("碑林区提交了危机需求：初二有个学生")
        assert "请尽快安排专家" in notice.title
    assert crisis_notices(baoji) == []
    edited = client.patch(f"/api/requests/{request_id}", json={"hours": 3}, headers=owner)
    assert edited.status_code == 200
    assert len(crisis_notices(people["staff"])) == 1  # one notice a request

    # a draft alarms nobody until it is submitted; an ordinary request marked 危机 later does
    draft = client.post("/api/requests", json={**body, "urgency": "crisis"}, headers=owner)
    draft_id = draft.json()["id"]
    assert len(crisis_notices(people["staff"])) == 1
    client.post(f"/api/requests/{draft_id}/status", json={"status": "submitted"}, headers=owner)
    marked = client.patch(
        f"/api/requests/{normal.json()['id']}", json={"urgency": "crisis"}, headers=owner
    )
    assert marked.status_code == 200
    links = {n.link for n in crisis_notices(xian)}
    assert links == {f"/requests/{i}" for i in (request_id, draft_id, normal.json()["id"])}
