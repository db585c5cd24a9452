import pytest
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.applications.models import ServiceApplication
from marketplace.vocabulary import Role
from tests.conftest import make_service, make_user
from tests.web.pages.conftest import form_token, logged_in


@pytest.fixture
def service_id(session: Session) -> int:
    return make_service(session, name="测试督导小时包", quantity=40, user=system_principal("t")).id


def _applications(session: Session, service_id: int) -> list[ServiceApplication]:
    session.expire_all()
    return list(
        session.exec(
            select(ServiceApplication).where(ServiceApplication.service_id == service_id)
        ).all()
    )


def _apply(client, service_id: int, **fields):
    page = client.get(f"/applications/new?service_id={service_id}").text
    nonce = page.split('name="form_nonce" value="')[1].split('"')[0]
    data = {
        "csrf_token": form_token(page),
        "service_id": str(service_id),
        "form_nonce": nonce,
        "quantity": "6",
        "purpose": "为碑林区心理教师开展个案督导",
        "target_schools": "西安市第一中学、西安市第二中学",
        **fields,
    }
    return client.post("/applications", data=data, follow_redirects=False), data


def test_a_coordinator_applies_for_a_service_and_follows_the_application(
    client, session, district_user, service_id
):
    logged_in(client, district_user)
    assert "测试督导小时包" in client.get("/services").text
    response, _ = _apply(client, service_id)
    assert response.status_code == 303 and response.headers["location"] == "/applications"
    page = client.get("/applications").text
    assert "申请已提交" in page and "待审批" in page
    [application] = _applications(session, service_id)
    assert application.target_schools == ["西安市第一中学", "西安市第二中学"]


def test_application_errors_are_shown_next_to_the_fields_and_nothing_is_filed(
    client, session, district_user, service_id
):
    logged_in(client, district_user)
    response, _ = _apply(client, service_id, quantity="很多", purpose="  ")
    assert response.status_code == 422
    assert 'id="err-quantity"' in response.text and 'id="err-purpose"' in response.text
    assert _applications(session, service_id) == []


def test_a_double_submitted_application_form_files_one_application(
    client, session, district_user, service_id
):
    logged_in(client, district_user)
    first, data = _apply(client, service_id)
    again = client.post("/applications", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert "未重复处理" in client.get(again.headers["location"]).text
    assert len(_applications(session, service_id)) == 1


def test_staff_approve_part_of_an_application_and_coordinators_may_not(
    client, session, district_user, staff_user, service_id
):
    logged_in(client, district_user)
    _apply(client, service_id)
    [application] = _applications(session, service_id)
    token = form_token(client.get("/applications").text)
    refused = client.post(f"/applications/{application.id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    logged_in(client, staff_user)
    token = form_token(client.get("/applications").text)
    response = client.post(
        f"/applications/{application.id}/approve", data={"csrf_token": token, "quantity": "4"}
    )
    assert response.status_code == 200 and "已批准该申请" in response.text
    [application] = _applications(session, service_id)
    assert (application.status, application.approved_hundredths) == ("approved", 400)


def test_a_rejection_needs_a_reason(client, session, district_user, staff_user, service_id):
    logged_in(client, district_user)
    _apply(client, service_id)
    [application] = _applications(session, service_id)
    logged_in(client, staff_user)
    token = form_token(client.get("/applications").text)
    empty = client.post(
        f"/applications/{application.id}/reject", data={"csrf_token": token, "reason": " "}
    )
    assert empty.status_code == 422 and "请填写驳回原因" in empty.text
    assert _applications(session, service_id)[0].status == "submitted"


def test_a_coordinator_cannot_withdraw_another_districts_application(
    client, session, district_user, service_id
):
    logged_in(client, district_user)
    _apply(client, service_id)
    [application] = _applications(session, service_id)
    other = make_user(session, Role.district, username="coord-yanta", district="西安市/雁塔区")
    logged_in(client, other)
    token = form_token(client.get("/applications").text)
    assert "测试督导小时包" not in client.get("/applications").text
    response = client.post(f"/applications/{application.id}/withdraw", data={"csrf_token": token})
    assert response.status_code == 403
    assert _applications(session, service_id)[0].status == "submitted"


def test_experts_cannot_open_the_service_pages(client, expert_user):
    logged_in(client, expert_user)
    assert client.get("/services").status_code == 403
    assert client.get("/applications").status_code == 403


def test_the_staff_dashboard_lists_pending_applications_and_the_district_sees_its_own(
    client, session, district_user, staff_user, service_id
):
    logged_in(client, district_user)
    _apply(client, service_id)
    assert "测试督导小时包 · 碑林区" in client.get("/").text
    logged_in(client, staff_user)
    dashboard = client.get("/").text
    section = dashboard.split('id="panel-pending_applications"')[1].split("</section>")[0]
    assert "测试督导小时包 · 碑林区" in section


def _pending(client, session, district_user, service_id, quantity="6"):
    logged_in(client, district_user)
    _apply(client, service_id, quantity=quantity)
    [application] = _applications(session, service_id)
    return application


def _card(html: str, application_id: int) -> str:
    return html.split(f'action="/applications/{application_id}/approve"')[0].rsplit("<li", 1)[1]


def test_staff_see_the_stock_the_districts_term_share_and_the_suggestion_beside_the_form(
    client, session, district_user, staff_user, service_id
):
    application = _pending(client, session, district_user, service_id)
    logged_in(client, staff_user)
    page = client.get("/applications").text
    card = _card(page, application.id)
    assert "服务剩余" in card and "40 小时" in card
    assert "碑林区本学期已获批" in card and "公平分配建议" in card
    assert "按建议批准后剩余" in card and "34 小时" in card  # 40 left, suggestion 6
    field = page.split(f'id="approve-{application.id}"')[1].split(">")[0]
    assert 'value="6"' in field and "required" in field


def test_approving_with_the_quantity_left_blank_is_refused_on_the_card(
    client, session, district_user, staff_user, service_id
):
    application = _pending(client, session, district_user, service_id)
    logged_in(client, staff_user)
    token = form_token(client.get("/applications").text)
    response = client.post(
        f"/applications/{application.id}/approve", data={"csrf_token": token, "quantity": " "}
    )
    assert response.status_code == 422
    assert f'id="err-approve-{application.id}"' in response.text
    assert "请填写批准数量" in response.text and 'class="main-nav"' in response.text
    assert _applications(session, service_id)[0].status == "submitted"


@pytest.mark.parametrize(
    ("typed", "status", "says"),
    [
        ("-3", 422, "批准数量："),
        ("7", 422, "不能超过申请数量"),
        ("很多", 422, "批准数量："),
    ],
)
def test_a_bad_approval_quantity_stays_on_the_form_with_what_was_typed(
    client, session, district_user, staff_user, service_id, typed, status, says
):
    application = _pending(client, session, district_user, service_id)
    logged_in(client, staff_user)
    token = form_token(client.get("/applications").text)
    response = client.post(
        f"/applications/{application.id}/approve", data={"csrf_token": token, "quantity": typed}
    )
    assert response.status_code == status
    error = response.text.split(f'id="err-approve-{application.id}"')[1].split("</p>")[0]
    assert says in error
    field = response.text.split(f'id="approve-{application.id}"')[1].split(">")[0]
    assert f'value="{typed}"' in field and 'aria-invalid="true"' in field
    assert _applications(session, service_id)[0].status == "submitted"


def test_approving_more_than_the_stock_left_is_refused_on_the_card(
    client, session, district_user, staff_user, service_id
):
    application = _pending(client, session, district_user, service_id, quantity="60")
    logged_in(client, staff_user)
    page = client.get("/applications").text
    assert 'value="40"' in page.split(f'id="approve-{application.id}"')[1].split(">")[0]
    response = client.post(
        f"/applications/{application.id}/approve",
        data={"csrf_token": form_token(page), "quantity": "50"},
    )
    assert response.status_code == 409
    assert "剩余数量不足" in response.text.split(f'id="err-approve-{application.id}"')[1]
    assert _applications(session, service_id)[0].status == "submitted"
