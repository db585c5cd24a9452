"""Pages: staff keep the catalogue of procured services (create, edit, retire, delete).

Over marketplace.services; every rule (validity order, quantity never below what is committed,
deletion only when nobody applied, a city center's region) is the service's. Eligibility is
picked from the district and zone names, not typed as ids.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.districts.models import City, Zone
from marketplace.districts.service import list_districts
from marketplace.errors import DomainError
from marketplace.services.models import ProcuredService, ServiceCreate, ServiceKind, ServiceUpdate
from marketplace.services.service import (
    create_service,
    delete_service,
    get_service,
    public_view,
    require_own_service,
    today,
    update_service,
)
from marketplace.validation import RecordId
from web.deps import SessionDep
from web.pages import field_errors, page_allows, redirect_with_flash
from web.templating import render

router = APIRouter(include_in_schema=False)

CataloguePage = Annotated[User, page_allows(Action.service_manage)]
FormText = Annotated[str, Form()]
FormIds = Annotated[list[int], Form()]
_FIELDS = ("name", "kind", "vendor", "unit", "quantity", "valid_from", "valid_to", "description")


def _choices(session: Session) -> dict[str, Any]:
    """Districts grouped by city, and the collaboration zones, for the eligibility picker."""
    by_city: dict[str, list[tuple[int, str]]] = {}
    for d in list_districts(session=session):
        by_city.setdefault(d.city, []).append((d.id, d.district))
    cities = dict(session.exec(select(City.id, City.name)).all())
    zones = [
        (z.id, f"{cities.get(z.city_id, '')} · {z.name}")
        for z in session.exec(select(Zone).order_by(Zone.city_id, Zone.id)).all()
    ]
    return {"districts_by_city": by_city, "zones": zones}


def _form_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, Any],
    service_id: int | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "form": form,
        "errors": errors or {},
        "service": None
        if service_id is None
        else public_view(
            session=session, service=get_service(session=session, service_id=service_id)
        ),
        "kinds": [
            (k.value, messages.SERVICE_KIND_LABELS.get(k.value, k.value)) for k in ServiceKind
        ],
        **_choices(session),
    }
    return render(request, "services/edit.html", context, status_code=status_code)


def _typed(
    name: FormText = "",
    kind: FormText = "",
    vendor: FormText = "",
    unit: FormText = "",
    quantity: FormText = "",
    valid_from: FormText = "",
    valid_to: FormText = "",
    description: FormText = "",
    eligible_district_ids: FormIds = [],  # noqa: B006 - FastAPI copies form defaults
    eligible_zone_ids: FormIds = [],  # noqa: B006
) -> dict[str, Any]:
    """The service form as posted (create and edit), trimmed to the fields' limits."""
    districts, zones = eligible_district_ids, eligible_zone_ids
    return {
        "name": name.strip()[:128],
        "kind": kind[:32],
        "vendor": vendor.strip()[:128],
        "unit": unit.strip()[:16],
        "quantity": quantity.strip()[:32],
        "valid_from": valid_from.strip()[:10],
        "valid_to": valid_to.strip()[:10],
        "description": description.strip()[:4000],
        "eligible_district_ids": sorted(set(districts))[:500],
        "eligible_zone_ids": sorted(set(zones))[:200],
    }


ServiceForm = Annotated[dict[str, Any], Depends(_typed)]


def _form_errors(exc: ValidationError) -> dict[str, str]:
    errors = field_errors(exc)
    if "__all__" in errors:  # the model's own check: the validity period's order
        errors["valid_to"] = errors.pop("__all__")
    errors["__all__"] = messages.FORM_HAS_ERRORS
    return errors


def _domain_errors(exc: DomainError) -> dict[str, str]:
    errors = {exc.field or "__all__": exc.message}
    errors.setdefault("__all__", messages.FORM_HAS_ERRORS)
    return errors


@router.get("/services/new", summary="新增采购服务")
def new_service_page(request: Request, session: SessionDep, user: CataloguePage) -> Response:
    start = today()
    form = {
        **dict.fromkeys(_FIELDS, ""),
        "kind": ServiceKind.supervision_hours.value,
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=365)).isoformat(),
        "eligible_district_ids": [],
        "eligible_zone_ids": [],
    }
    return _form_page(request, session, form=form)


@router.post("/services", summary="创建采购服务")
def create_service_page(
    request: Request,
    session: SessionDep,
    user: CataloguePage,
    form: ServiceForm,
) -> Response:
    try:
        data = ServiceCreate.model_validate(form)
    except ValidationError as exc:
        errors = _form_errors(exc)
        return _form_page(request, session, form=form, errors=errors, status_code=422)
    try:
        service = create_service(session=session, data=data, user=user)
    except DomainError as exc:
        return _form_page(
            request, session, form=form, errors=_domain_errors(exc), status_code=exc.status_code
        )
    return redirect_with_flash(f"/services#service-{service.id}", "service_created")


def _managed(session: Session, user: User, service_id: int) -> ProcuredService:
    """The service, once the policy lets `user` manage it (a city center: its own services)."""
    service = get_service(session=session, service_id=service_id)
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    return service


def _stored_form(session: Session, service_id: int) -> dict[str, Any]:
    service = get_service(session=session, service_id=service_id)
    return {
        "name": service.name,
        "kind": service.kind,
        "vendor": service.vendor,
        "unit": service.unit,
        "quantity": public_view(session=session, service=service).quantity,
        "valid_from": service.valid_from.isoformat(),
        "valid_to": service.valid_to.isoformat(),
        "description": service.description,
        "eligible_district_ids": list(service.eligible_district_ids),
        "eligible_zone_ids": list(service.eligible_zone_ids),
    }


@router.get("/services/{service_id}/edit", summary="修改采购服务")
def edit_service_page(
    request: Request, session: SessionDep, user: CataloguePage, service_id: RecordId
) -> Response:
    _managed(session, user, service_id)
    form = _stored_form(session, service_id)
    return _form_page(request, session, form=form, service_id=service_id)


@router.post("/services/{service_id}", summary="保存采购服务")
def update_service_page(
    request: Request,
    session: SessionDep,
    user: CataloguePage,
    service_id: RecordId,
    form: ServiceForm,
) -> Response:
    _managed(session, user, service_id)
    try:
        data = ServiceUpdate.model_validate(form)
    except ValidationError as exc:
        errors = _form_errors(exc)
        return _form_page(
            request, session, form=form, service_id=service_id, errors=errors, status_code=422
        )
    try:
        update_service(session=session, service_id=service_id, data=data, user=user)
    except DomainError as exc:
        session.expire_all()
        return _form_page(
            request,
            session,
            form=form,
            service_id=service_id,
            errors=_domain_errors(exc),
            status_code=exc.status_code,
        )
    return redirect_with_flash(f"/services#service-{service_id}", "service_saved")


@router.post("/services/{service_id}/retire", summary="停用采购服务")
def retire_service_page(
    request: Request, session: SessionDep, user: CataloguePage, service_id: RecordId
) -> Response:
    """End the service's validity yesterday: no new applications or approvals from today."""
    service = _managed(session, user, service_id)
    end = today() - timedelta(days=1)
    changes: dict[str, Any] = {"valid_to": end}
    if service.valid_from > end:
        changes["valid_from"] = end
    update_service(
        session=session,
        service_id=service_id,
        data=ServiceUpdate.model_validate(changes),
        user=user,
    )
    return redirect_with_flash(f"/services#service-{service_id}", "service_retired")


@router.post("/services/{service_id}/delete", summary="删除采购服务")
def delete_service_page(
    request: Request, session: SessionDep, user: CataloguePage, service_id: RecordId
) -> Response:
    """Delete a service nobody applied for; otherwise say so on its edit page."""
    try:
        delete_service(session=session, service_id=service_id, user=user)
    except DomainError as exc:
        if exc.code != "has_applications":
            raise
        return _form_page(
            request,
            session,
            form=_stored_form(session, service_id),
            service_id=service_id,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
    return redirect_with_flash("/services", "service_deleted")
