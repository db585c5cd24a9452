"""Services ask the policy themselves: called with a user the policy does not let do the thing,
on a record outside their scope, they refuse, whoever calls them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from marketplace.accounts.admin import reset_password, set_active
from marketplace.accounts.models import User, UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.allocation.service import approve_application, expire_lapsed, record_usage
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import (
    create_application,
    list_applications,
    reject_application,
    withdraw_application,
)
from marketplace.centers.service import center_named
from marketplace.districts.service import find_district
from marketplace.errors import Forbidden, InvalidInput
from marketplace.experts.models import ExpertAdminUpdate, ExpertRecord, ExpertUpdate
from marketplace.experts.service import update_expert, upsert_record
from marketplace.reports.service import allocation_report
from marketplace.requests.models import RequestStatus
from marketplace.requests.service import change_status, follow_on_status
from marketplace.services.models import ServiceCreate, ServiceUpdate
from marketplace.services.service import create_service, delete_service, today, update_service
from marketplace.vocabulary import ExpertStatus, Role
from tests.conftest import TEST_PASSWORD, expert_record
from tests.matching.db_support import file_request
from tests.web.allocation_support import quick_user

SYSTEM = system_principal("test")


def staff_of(session, role: Role, city: str) -> User:
    user = quick_user(session, role)
    user.center_id = center_named(session=session, name=city).id
    session.add(user)
    session.flush()
    return user


def catalogue_entry(name: str = "督导小时包") -> ServiceCreate:
    return ServiceCreate(
        name=name,
        kind="supervision_hours",
        unit="小时",
        quantity=Decimal(10),
        valid_from=today() - timedelta(days=1),
        valid_to=today() + timedelta(days=90),
    )


@pytest.fixture
def xian_service(session):
    """A 西安市 center service (its staff created it) and an application of 碑林区 to it."""
    xian = staff_of(session, Role.city_staff, "西安市")
    service = create_service(session=session, data=catalogue_entry("西安督导"), user=xian)
    beilin = quick_user(session, Role.district, district="西安市/碑林区")
    application = create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=Decimal(2), purpose="督导"),
        user=beilin,
    )
    return service, application, xian, beilin


def test_city_staff_of_another_city_cannot_change_or_delete_a_city_service(session, xian_service):
    service, _, _, _ = xian_service
    baoji = staff_of(session, Role.city_staff, "宝鸡市")
    with pytest.raises(Forbidden):
        update_service(
            session=session, service_id=service.id, data=ServiceUpdate(name="改名"), user=baoji
        )
    with pytest.raises(Forbidden):
        delete_service(session=session, service_id=service.id, user=baoji)


def test_city_staff_of_another_city_cannot_decide_or_see_its_applications(session, xian_service):
    _, application, _, _ = xian_service
    baoji = staff_of(session, Role.city_staff, "宝鸡市")
    with pytest.raises(Forbidden):
        reject_application(
            session=session, application_id=application.id, reason="不予批准", user=baoji
        )
    with pytest.raises(Forbidden):
        approve_application(
            session=session, application_id=application.id, quantity=None, user=baoji
        )
    assert application.id not in {a.id for a in list_applications(session=session, user=baoji)}


def test_only_a_district_files_applications_and_only_for_itself(session, xian_service):
    service, _, _, _ = xian_service
    baoji = staff_of(session, Role.city_staff, "宝鸡市")
    data = ApplicationCreate(service_id=service.id, quantity=Decimal(1), purpose="督导")
    with pytest.raises(Forbidden):
        create_application(session=session, data=data, user=baoji)
    weibin = quick_user(session, Role.district, district="宝鸡市/渭滨区")
    beilin_id = find_district(session=session, name="西安市/碑林区").id
    with pytest.raises(Forbidden):
        create_application(session=session, data=data, user=weibin, district_id=beilin_id)


def test_another_district_cannot_withdraw_or_use_an_application(session, xian_service):
    _, application, xian, _ = xian_service
    yanta = quick_user(session, Role.district, district="西安市/雁塔区")
    with pytest.raises(Forbidden):
        withdraw_application(session=session, application_id=application.id, user=yanta)
    approve_application(session=session, application_id=application.id, quantity=None, user=xian)
    with pytest.raises(Forbidden):
        record_usage(
            session=session, application_id=application.id, quantity=Decimal(1), user=yanta
        )


def test_an_observer_changes_nothing(session, xian_service):
    service, application, _, _ = xian_service
    observer = staff_of(session, Role.observer, "西安市")
    with pytest.raises(Forbidden):
        create_service(session=session, data=catalogue_entry(), user=observer)
    with pytest.raises(Forbidden):
        update_service(
            session=session, service_id=service.id, data=ServiceUpdate(name="改名"), user=observer
        )
    with pytest.raises(Forbidden):
        approve_application(
            session=session, application_id=application.id, quantity=None, user=observer
        )
    with pytest.raises(Forbidden):
        expire_lapsed(session=session, user=observer)
    # What it may read, it reads: its region's applications.
    assert application.id in {a.id for a in list_applications(session=session, user=observer)}


def test_only_whoever_sees_every_service_expires_them_all(session):
    xian = staff_of(session, Role.city_staff, "西安市")
    with pytest.raises(Forbidden):
        expire_lapsed(session=session, user=xian)
    assert expire_lapsed(session=session, user=SYSTEM) >= 0


def test_an_expert_edits_only_their_own_profile_and_never_its_status(session):
    upsert_record(session=session, rec=ExpertRecord(**expert_record(id="PE1")), user=SYSTEM)
    upsert_record(session=session, rec=ExpertRecord(**expert_record(id="PE2")), user=SYSTEM)
    own = quick_user(session, Role.expert)
    own.expert_id = "PE1"
    session.add(own)
    session.flush()
    changed = update_expert(
        session=session, expert_id="PE1", data=ExpertUpdate(title="主任医师"), user=own
    )
    assert changed.title == "主任医师"
    with pytest.raises(Forbidden):
        update_expert(
            session=session, expert_id="PE2", data=ExpertUpdate(title="主任医师"), user=own
        )
    with pytest.raises(Forbidden):
        update_expert(
            session=session,
            expert_id="PE1",
            data=ExpertAdminUpdate(status=ExpertStatus.paused),
            user=own,
        )
    coordinator = quick_user(session, Role.district, district="西安市/碑林区")
    with pytest.raises(Forbidden):
        upsert_record(
            session=session, rec=ExpertRecord(**expert_record(id="PE3")), user=coordinator
        )


def test_city_staff_of_another_city_cannot_move_a_request(session):
    request = file_request(session)  # 西安市/碑林区
    baoji = staff_of(session, Role.city_staff, "宝鸡市")
    with pytest.raises(Forbidden):
        change_status(
            session=session, request_id=request.id, status=RequestStatus.withdrawn, user=baoji
        )
    xian = staff_of(session, Role.city_staff, "西安市")
    moved = change_status(
        session=session, request_id=request.id, status=RequestStatus.withdrawn, user=xian
    )
    assert moved.status == RequestStatus.withdrawn.value


def test_a_follow_on_move_is_only_matched_or_scheduled(session):
    request = file_request(session)
    coordinator = quick_user(session, Role.district, district="西安市/碑林区")
    with pytest.raises(InvalidInput):
        follow_on_status(
            session=session, request_id=request.id, status=RequestStatus.done, user=coordinator
        )
    moved = follow_on_status(
        session=session, request_id=request.id, status=RequestStatus.matched, user=coordinator
    )
    assert moved.status == RequestStatus.matched.value


def test_only_whoever_manages_accounts_creates_or_changes_them(session):
    staff = quick_user(session, Role.staff)
    coordinator = quick_user(session, Role.district, district="西安市/碑林区")
    data = UserCreate(username="new-coordinator", password=TEST_PASSWORD, role=Role.observer)
    with pytest.raises(Forbidden):
        create_user(session=session, data=data, user=staff)
    with pytest.raises(Forbidden):
        set_active(session=session, user_id=coordinator.id, active=False, user=staff)
    with pytest.raises(Forbidden):
        reset_password(session=session, user_id=coordinator.id, user=staff)
    stopped = set_active(session=session, user_id=coordinator.id, active=False, user=SYSTEM)
    assert stopped.is_active is False


def test_the_report_is_the_readers_region_and_refused_to_a_district(session, xian_service):
    _, application, xian, beilin = xian_service
    approve_application(session=session, application_id=application.id, quantity=None, user=xian)
    baoji_observer = staff_of(session, Role.observer, "宝鸡市")
    seen = allocation_report(session=session, user=baoji_observer, include_zero=True)
    assert application.district_id not in {row.district_id for row in seen.rows}
    own = allocation_report(session=session, user=xian)
    assert application.district_id in {row.district_id for row in own.rows}
    with pytest.raises(Forbidden):
        allocation_report(session=session, user=beilin)
