"""A small world for the security suites: two districts, two experts, one user per role (the
centers' staff and observers of the owner's city, 西安市, and of another, 宝鸡市), and records
owned by the first district / first expert (the targets of IDOR attempts), with their owners
as the permission policy sees them (`World.owners`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, select

from booking.busy import service as busy_service
from booking.feeds import service as feeds_service
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from booking.sessions.models import BookingCreate
from booking.time_requests import service as time_requests_service
from booking.time_requests.models import TimeRequestCreate
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Owner
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import create_application
from marketplace.centers.models import CenterExpert
from marketplace.centers.service import center_named, province_center
from marketplace.jobs.models import JobState
from marketplace.notifications.models import Notification
from marketplace.resources.files import store_for
from marketplace.resources.models import ResourceCreate
from marketplace.resources.service import (
    attach_file,
    create_resource,
    prepare_file,
    submit_resource,
)
from marketplace.services.models import ServiceCreate
from marketplace.services.service import create_service
from marketplace.settings import Settings
from marketplace.vocabulary import Role
from matching.service import run_batch
from tests.booking.conftest import (
    ALL_KINDS,
    WORKDAY,
    add_experts,
    book,
    future_weekday,
    local,
    quick_user,  # make_user without a fresh Argon2 hash per user (TEST_PASSWORD still logs in)
)
from tests.conftest import auth_headers, expert_record
from tests.matching.db_support import fake_relevance, file_request
from tests.web.allocation_support import service_body

OWN_DISTRICT = "西安市/碑林区"
OTHER_DISTRICT = "西安市/雁塔区"
ACTORS = (
    "anonymous",
    "district_own",
    "district_other",
    "expert_own",
    "expert_other",
    "staff",  # province staff
    "city_own",  # staff of 西安市's center (the owner's city)
    "city_other",  # staff of 宝鸡市's center
    "observer_own",  # an education-bureau observer of 西安市
    "observer_other",  # an observer of 宝鸡市
    "admin",
)
# Text that only the owning district (and staff) may ever see.
SECRETS = ("需求标记甲A7", "预约标记甲B7", "申请标记甲C7", "日历标记甲D7", "资料标记甲E7")
BUSY_ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:busy-1@test
DTSTART:20300107T020000Z
DTEND:20300107T030000Z
SUMMARY:\xe6\x97\xa5\xe5\x8e\x86\xe6\xa0\x87\xe8\xae\xb0\xe7\x94\xb2D7
END:VEVENT
END:VCALENDAR
"""


@dataclass
class World:
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    expert_id: str = "SX1"
    other_expert_id: str = "SX2"
    district_id: int = 0
    other_district_id: int = 0
    request_id: int = 0
    draft_request_id: int = 0
    booking_id: int = 0
    training_id: int = 0
    application_id: int = 0
    service_id: int = 0
    run_id: int = 0
    calendar_id: int = 0
    notification_id: int = 0  # the own expert's "new booking" inbox entry
    time_request_id: int = 0  # the own district's request for a time with the own expert
    resource_id: int = 0  # a submission by the own expert, not yet published
    resource_file_id: int = 0
    feed_token: str = ""
    job_name: str = "crisis_escalation"
    secrets: tuple[str, ...] = field(default=SECRETS)
    province_center_id: int = 0
    city_center_id: int = 0  # 西安市's center; its expert group holds the own expert

    def owners(self) -> dict[str, Owner]:
        """Whose the record each path parameter names is (the policy's view of it)."""
        district = Owner(district_id=self.district_id)
        expert = Owner(expert_id=self.expert_id)
        return {
            "expert_id": expert,
            "calendar_id": expert,
            "resource_id": expert,  # the own expert's submission (not yet published)
            "file_id": expert,
            "district_id": district,
            "request_id": district,
            "run_id": district,  # a batch run over the district's request
            "booking_id": Owner(district_id=self.district_id, expert_id=self.expert_id),
            "time_request_id": Owner(district_id=self.district_id, expert_id=self.expert_id),
            # A training is open to every district (each registers its own schools).
            "training_id": Owner(
                district_id=self.district_id, expert_id=self.expert_id, every_district=True
            ),
            "application_id": Owner(
                district_id=self.district_id, center_id=self.province_center_id
            ),
            # A province-wide service: every district is eligible; the province center runs it.
            "service_id": Owner(center_id=self.province_center_id, every_district=True),
            "notification_id": Owner(user_id=self.users["expert_own"].id),
            "user_id": Owner(user_id=self.user_id),
            "center_id": Owner(center_id=self.city_center_id),
        }

    @property
    def user_id(self) -> int:
        """The account the admin-only /api/users/{user_id} routes act on."""
        return self.users["district_own"].id or 0

    def leaks(self, text: str) -> list[str]:
        """The owning party's secrets found in `text`."""
        return [s for s in (*self.secrets, self.feed_token) if s and s in text]


def build_world(session: Session, settings: Settings) -> World:
    add_experts(
        session,
        expert_record(id="SX1", name="甲专家", service_types=ALL_KINDS, monthly_capacity_hours=60),
        expert_record(id="SX2", name="乙专家", service_types=ALL_KINDS),
    )
    users = {
        "district_own": quick_user(session, Role.district, "sec-beilin", district=OWN_DISTRICT),
        "district_other": quick_user(session, Role.district, "sec-yanta", district=OTHER_DISTRICT),
        "expert_own": quick_user(session, Role.expert, "sec-sx1", expert_id="SX1"),
        "expert_other": quick_user(session, Role.expert, "sec-sx2", expert_id="SX2"),
        "staff": quick_user(session, Role.staff, "sec-staff"),
        "admin": quick_user(session, Role.admin, "sec-admin"),
    }
    # The centers: staff of the owner's city (西安市) and of another city (宝鸡市), and an
    # observer of each.
    for key, role, center in (
        ("city_own", Role.city_staff, "西安市"),
        ("city_other", Role.city_staff, "宝鸡市"),
        ("observer_own", Role.observer, "西安市"),
        ("observer_other", Role.observer, "宝鸡市"),
    ):
        user = quick_user(session, role, f"sec-{key}")
        user.center_id = center_named(session=session, name=center).id
        session.add(user)
        users[key] = user
    session.flush()
    staff, owner = users["staff"], users["district_own"]
    world = World(
        users=users,
        headers={"anonymous": {}} | {k: auth_headers(u, settings) for k, u in users.items()},
        district_id=owner.district_id,
        other_district_id=users["district_other"].district_id,
        province_center_id=province_center(session=session).id,  # type: ignore[union-attr]
        city_center_id=users["city_own"].center_id or 0,
    )
    session.add(CenterExpert(center_id=world.city_center_id, expert_id="SX1"))
    schedule_service.set_availability(
        session=session, expert_id="SX1", data=AvailabilityUpdate(**WORKDAY), user=staff
    )
    world.request_id = file_request(
        session, user=owner, district=None, text=f"{SECRETS[0]} 学生厌学"
    ).id
    world.draft_request_id = file_request(
        session, user=owner, district=None, submit=False, text=f"{SECRETS[0]} 草稿"
    ).id
    day = future_weekday(10)
    world.booking_id = sessions_service.create_booking(
        session=session,
        data=BookingCreate(
            expert_id="SX1",
            start=local(day, 10),
            end=local(day, 11),
            kind="supervision",
            format="online",
            title=SECRETS[1],
        ),
        user=owner,
    ).id
    world.notification_id = session.exec(
        select(Notification.id).where(Notification.user_id == users["expert_own"].id)
    ).first()
    world.time_request_id = time_requests_service.file_time_request(
        session=session,
        data=TimeRequestCreate(
            expert_id="SX1",
            kind="supervision",
            format="online",
            earliest_day=slot_day(),
            latest_day=slot_day() + timedelta(days=3),
            day_part="afternoon",
            title=SECRETS[1],
        ),
        user=owner,
    ).id
    world.training_id = book(
        session,
        staff,
        "SX1",
        local(day, 14),
        title="公开培训",
        kind="training",
        hours=2,
        capacity=40,
        district_id=owner.district_id,
    ).id
    service = create_service(session=session, data=ServiceCreate(**service_body()), user=staff)
    world.service_id = service.id
    world.application_id = create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=2, purpose=SECRETS[2]),
        district_id=owner.district_id,
        user=owner,
    ).id
    world.run_id = run_batch(
        session=session,
        user=staff,
        relevance_factory=fake_relevance,
        request_ids=[world.request_id],
    ).id
    world.calendar_id = busy_service.upload_busy_calendar(
        session=session, expert_id="SX1", data=BUSY_ICS, name=SECRETS[3], user=users["expert_own"]
    ).id
    author = users["expert_own"]
    resource = create_resource(
        session=session,
        data=ResourceCreate(kind="course", title=f"{SECRETS[4]} 课纲", body="四次团体辅导课"),
        user=author,
    )
    world.resource_id = resource.id
    world.resource_file_id = attach_file(
        session=session,
        resource_id=resource.id,
        user=author,
        prepared=prepare_file(filename="课纲.png", data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        store=store_for(settings.data_dir),
    ).id
    submit_resource(session=session, resource_id=resource.id, user=author)
    world.feed_token = feeds_service.issue_feed_token(
        session=session, owner_type="district", owner_id=str(owner.district_id), user=owner
    )
    session.add(JobState(name=world.job_name, interval_seconds=60))
    session.flush()
    return world


def slot_day() -> date:
    return future_weekday(12)


def booking_body(world: World, *, hour: int = 10) -> dict:
    day = slot_day()
    return {
        "expert_id": world.expert_id,
        "start": local(day, hour).isoformat(),
        "end": (local(day, hour) + timedelta(hours=1)).isoformat(),
        "kind": "supervision",
        "format": "online",
        "title": "新的督导",
    }
