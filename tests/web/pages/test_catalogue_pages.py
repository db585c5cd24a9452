"""Catalogue pages: staff create, edit, retire and delete procured services from the browser."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import approve_application
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import create_application
from marketplace.districts.service import find_district
from marketplace.services.models import ProcuredService
from marketplace.services.service import today
from tests.web.pages.conftest import form_token, logged_in


def _service(session, name: str) -> ProcuredService:
    session.expire_all()
    return session.exec(select(ProcuredService).where(ProcuredService.name == name)).one()


def _create(client, **fields):
    page = client.get("/services/new")
    data = {
        "csrf_token": form_token(page.text),
        "name": "危机干预督导包",
        "kind": "supervision_hours",
        "unit": "小时",
        "quantity": "30",
        "valid_from": today().isoformat(),
        "valid_to": (today() + timedelta(days=180)).isoformat(),
        **fields,
    }
    return page, client.post("/services", data=data, follow_redirects=False)


def test_staff_create_a_service_for_districts_picked_by_name(client, session, staff_user):
    logged_in(client, staff_user)
    beilin = find_district(session=session, name="西安市/碑林区")
    page, response = _create(client, eligible_district_ids=[str(beilin.id)])
    assert "西安市" in page.text and "碑林区" in page.text  # a picker of names
    assert response.status_code == 303
    service = _service(session, "危机干预督导包")
    assert service.eligible_district_ids == [beilin.id] and service.quantity_hundredths == 3000
    catalogue = client.get("/services").text
    assert "危机干预督导包" in catalogue and f'href="/services/{service.id}/edit"' in catalogue


def test_service_form_errors_stay_next_to_their_fields(client, session, staff_user):
    logged_in(client, staff_user)
    _, response = _create(client, name=" ", quantity="-5")
    assert response.status_code == 422
    assert 'id="err-name"' in response.text and 'id="err-quantity"' in response.text
    _, reversed_dates = _create(
        client, valid_to=(today() - timedelta(days=3)).isoformat(), name="倒置"
    )
    assert reversed_dates.status_code == 422 and "开始日期不能晚于结束日期" in reversed_dates.text


def test_the_quantity_cannot_drop_below_what_is_allocated(client, session, staff_user):
    logged_in(client, staff_user)
    _create(client)
    service = _service(session, "危机干预督导包")
    beilin = find_district(session=session, name="西安市/碑林区")
    application = create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=12, purpose="督导"),
        district_id=beilin.id,
        user=system_principal("t"),
    )
    approve_application(
        session=session,
        application_id=application.id,
        quantity=Decimal(12),
        user=system_principal("t"),
    )
    session.commit()
    page = client.get(f"/services/{service.id}/edit")
    assert "已分配 12" in page.text
    data = {
        "csrf_token": form_token(page.text),
        "name": "危机干预督导包",
        "kind": "supervision_hours",
        "unit": "小时",
        "quantity": "10",
        "valid_from": service.valid_from.isoformat(),
        "valid_to": service.valid_to.isoformat(),
    }
    refused = client.post(f"/services/{service.id}", data=data)
    assert refused.status_code == 409
    error = refused.text.split('id="err-quantity"')[1].split("</p>")[0]
    assert "不能少于已分配和已使用的数量（12小时）" in error
    assert _service(session, "危机干预督导包").quantity_hundredths == 3000
    saved = client.post(f"/services/{service.id}", data={**data, "quantity": "40"})
    assert saved.status_code == 200 and "采购服务已保存" in saved.text
    assert _service(session, "危机干预督导包").quantity_hundredths == 4000
    deleted = client.post(f"/services/{service.id}/delete", data={"csrf_token": data["csrf_token"]})
    assert deleted.status_code == 409 and "已有区县申请，不能删除" in deleted.text


def test_staff_retire_a_service_and_delete_one_nobody_applied_for(
    client, session, staff_user, district_user
):
    logged_in(client, staff_user)
    page, _ = _create(client)
    _create(client, name="从未申请的服务")
    token = form_token(page.text)
    service = _service(session, "危机干预督导包")
    retired = client.post(f"/services/{service.id}/retire", data={"csrf_token": token})
    assert "采购服务已停用" in retired.text
    assert _service(session, "危机干预督导包").valid_to == today() - timedelta(days=1)
    unused = _service(session, "从未申请的服务")
    gone = client.post(f"/services/{unused.id}/delete", data={"csrf_token": token})
    assert "采购服务已删除" in gone.text and "从未申请的服务" not in gone.text
    logged_in(client, district_user)
    catalogue = client.get("/services").text
    assert "危机干预督导包" not in catalogue or "不在有效期内" in catalogue
    assert f'href="/applications/new?service_id={service.id}"' not in catalogue


def test_coordinators_cannot_open_the_catalogue_editor(client, district_user):
    logged_in(client, district_user)
    assert client.get("/services/new").status_code == 403
    assert "新增采购服务" not in client.get("/services").text
