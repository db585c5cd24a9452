from datetime import date

import pytest
from sqlmodel import Session, select

from marketplace.audit.models import AuditEntry
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.requests.models import DistrictRequestCreate, DistrictRequestUpdate, RequestStatus
from marketplace.requests.service import (
    change_status,
    create_request,
    get_request,
    list_requests,
    update_request,
)
from marketplace.vocabulary import Role
from tests.conftest import make_user
from tests.matching.db_support import file_request, seed_pool


def test_a_district_user_files_requests_for_their_own_district_only(session: Session):
    user = make_user(session, Role.district, district="西安市/碑林区")
    request = file_request(session, user=user, district=None)
    assert request.district_id == user.district_id and request.status == "submitted"
    with pytest.raises(Forbidden):
        file_request(session, user=user, district="西安市/雁塔区")


def test_a_district_user_cannot_see_or_edit_another_districts_request(session: Session):
    owner = make_user(session, Role.district, district="西安市/碑林区")
    other = make_user(session, Role.district, district="西安市/雁塔区")
    request = file_request(session, user=owner, district=None)
    with pytest.raises(Forbidden):
        get_request(session=session, request_id=request.id, user=other)
    with pytest.raises(Forbidden):
        update_request(
            session=session, request_id=request.id, data=DistrictRequestUpdate(hours=2), user=other
        )
    items, total = list_requests(session=session, user=other)
    assert total == 0 and items == []


def test_staff_must_name_the_district(session: Session):
    staff = make_user(session, Role.staff)
    with pytest.raises(InvalidInput, match="区县"):
        file_request(session, user=staff, district=None)


def test_an_exclusion_list_naming_unknown_experts_is_refused_with_the_ids(session: Session):
    seed_pool(session)
    staff = make_user(session, Role.staff)
    with pytest.raises(InvalidInput, match="NOPE1"):
        file_request(session, user=staff, excluded_expert_ids=["M1", "NOPE1"])


def test_status_follows_the_life_cycle_and_is_audited(session: Session):
    user = make_user(session, Role.district)
    request = file_request(session, user=user, district=None, submit=False)
    assert request.status == "draft"
    change_status(session=session, request_id=request.id, status=RequestStatus.submitted, user=user)
    with pytest.raises(Forbidden):  # only matching/staff set "matched"
        change_status(
            session=session, request_id=request.id, status=RequestStatus.matched, user=user
        )
    change_status(session=session, request_id=request.id, status=RequestStatus.withdrawn, user=user)
    with pytest.raises(Conflict):
        change_status(
            session=session, request_id=request.id, status=RequestStatus.submitted, user=user
        )
    actions = session.exec(
        select(AuditEntry.action).where(
            AuditEntry.entity_type == "district_request", AuditEntry.entity_id == str(request.id)
        )
    ).all()
    assert actions == ["request.create", "request.status", "request.status"]


def test_an_edit_records_before_and_after(session: Session):
    user = make_user(session, Role.district)
    request = file_request(session, user=user, district=None)
    update_request(
        session=session, request_id=request.id, data=DistrictRequestUpdate(hours=6), user=user
    )
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "request.update")).one()
    assert (entry.before["hours"], entry.after["hours"]) == (4, 6)


def test_a_window_ending_before_it_starts_is_refused(session: Session):
    user = make_user(session, Role.district)
    request = file_request(session, user=user, district=None)
    with pytest.raises(InvalidInput):
        update_request(
            session=session,
            request_id=request.id,
            data=DistrictRequestUpdate(window_end=date(2027, 2, 1)),
            user=user,
        )


def test_the_same_external_id_cannot_be_filed_twice(session: Session):
    staff = make_user(session, Role.staff)
    create_request(
        session=session,
        data=DistrictRequestCreate(
            text="需要培训",
            district="西安市/碑林区",
            service_type="training",
            format="online",
            hours=2,
            window_start=date(2027, 3, 1),
            window_end=date(2027, 3, 2),
            external_id="DR0001",
        ),
        user=staff,
    )
    with pytest.raises(Conflict):
        file_request(session, user=staff, external_id="DR0001")


def test_an_unknown_district_is_invalid_input_with_its_name(session: Session):
    staff = make_user(session, Role.staff)
    with pytest.raises(InvalidInput, match="不存在区"):
        file_request(session, user=staff, district="西安市/不存在区")
