"""Pages: the procured-services catalogue, district applications, and staff decisions.

Over marketplace.services / applications / allocation; every rule (eligibility, remainder,
pending-only decisions) is theirs. District users see and act on their own district only.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, can, require
from marketplace.allocation.service import approval_contexts, approve_application
from marketplace.applications.models import ApplicationCreate, ApplicationStatus, ServiceApplication
from marketplace.applications.service import (
    create_application,
    get_application,
    list_applications,
    reject_application,
    withdraw_application,
)
from marketplace.applications.service import (
    public_views as application_views,
)
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.services.service import (
    get_service,
    is_eligible,
    list_services,
    manages,
    public_view,
)
from marketplace.services.service import public_views as service_views
from marketplace.validation import RecordId
from web.deps import SessionDep, performs
from web.pages import (
    DistrictPage,
    PageUser,
    StaffPage,
    field_errors,
    mark_sent,
    redirect_with_flash,
    sent_before,
    text_error,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
_SCHOOL_SEPARATORS = re.compile(r"[\n\r,，、;；]+")


def decides(session: Session, user: User, application: ServiceApplication) -> bool:
    """Whether `user` may decide this application (asked of the policy via the service)."""
    try:
        get_application(
            session=session,
            application_id=application.id or 0,
            user=user,
            action=Action.application_decide,
        )
    except Forbidden:
        return False
    return True


def _district_of(user: User, action: Action = Action.service_read) -> int | None:
    """The coordinator's district; None for center staff and observers (their reach is asked of
    the policy by the services); anyone else is refused."""
    scope = require(user, action)
    return user.district_id if scope is Scope.own_district else None


@router.get("/services", summary="服务目录", dependencies=[performs(Action.service_read)])
def services_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    district_id = _district_of(user)
    district = None if district_id is None else session.get(District, district_id)
    services = list_services(session=session, eligible_for=district, user=user)
    return render(
        request,
        "services/list.html",
        {
            "services": service_views(session=session, services=services),
            "can_apply": district is not None,
            "can_manage": can(user, Action.service_manage),
            # A city center's staff change their own center's services only.
            "managed": {s.id for s in services if manages(session=session, user=user, service=s)},
        },
    )


@router.get("/applications", summary="服务申请", dependencies=[performs(Action.application_read)])
def applications_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    status: Annotated[str, Query(max_length=16)] = "",
    service_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    return _applications(request, session, user, status, service_id)


def _applications(
    request: Request,
    session: Session,
    user: User,
    status: str = "",
    service_id: int | None = None,
    *,
    errors: dict[int, str] | None = None,
    values: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The applications page; a refused decision comes back on its own card (`errors`)."""
    district_id = _district_of(user, Action.application_read)
    chosen = status if status in {s.value for s in ApplicationStatus} else None
    applications = list_applications(
        session=session,
        district_id=district_id,
        service_id=service_id,
        status=ApplicationStatus(chosen) if chosen else None,
        user=user,
    )
    deciding = can(user, Action.application_decide)
    # The decision forms show only on cards this user may decide (their own center's services).
    decidable = {a.id for a in applications if deciding and decides(session, user, a)}
    # Filing, and withdrawing what one filed, is the district's side only (observers and
    # centers' staff are offered neither).
    filing = can(user, Action.application_file)
    withdrawable = {a.id for a in applications if filing and a.district_id == user.district_id}
    views = application_views(session=session, applications=list(reversed(applications)))
    contexts = approval_contexts(session=session, applications=applications) if deciding else {}
    return render(
        request,
        "services/applications.html",
        {
            "applications": views,
            "contexts": contexts,
            "status": chosen or "",
            "statuses": [s.value for s in ApplicationStatus],
            "staff": deciding,
            "decidable": decidable,
            "filing": filing,
            "withdrawable": withdrawable,
            "errors": errors or {},
            "values": values or {},
        },
        fragments=("results",),
        status_code=status_code,
    )


def _apply_form(
    request: Request,
    session: Session,
    user: User,
    service_id: RecordId,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = get_service(session=session, service_id=service_id)
    district = session.get(District, user.district_id) if user.district_id else None
    if district is None or not is_eligible(service, district):
        raise Forbidden(messages.SERVICE_NOT_ELIGIBLE)
    return render(
        request,
        "services/apply.html",
        {
            "service": public_view(session=session, service=service),
            "form": form,
            "errors": errors or {},
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        },
        status_code=status_code,
    )


@router.get("/applications/new", summary="申请服务")
def new_application_page(
    request: Request, session: SessionDep, user: DistrictPage, service_id: RecordId
) -> Response:
    empty = {
        "quantity": "",
        "purpose": "",
        "target_schools": "",
        "period_start": "",
        "period_end": "",
    }
    return _apply_form(request, session, user, service_id, empty)


@router.post("/applications", summary="提交服务申请")
def submit_application(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    service_id: Annotated[int, Form()],
    quantity: FormText = "",
    purpose: FormText = "",
    target_schools: FormText = "",
    period_start: FormText = "",
    period_end: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
        return redirect_with_flash("/applications", "duplicate_submission")
    form = {
        "quantity": quantity[:32],
        "purpose": purpose[:5000],
        "target_schools": target_schools[:20000],
        "period_start": period_start[:32],
        "period_end": period_end[:32],
        "form_nonce": form_nonce[:64],
    }
    schools = [s.strip() for s in _SCHOOL_SEPARATORS.split(form["target_schools"]) if s.strip()]
    try:
        data = ApplicationCreate.model_validate(
            {
                "service_id": service_id,
                "quantity": form["quantity"],
                "purpose": form["purpose"].strip(),
                "target_schools": schools,
                "period_start": form["period_start"] or None,
                "period_end": form["period_end"] or None,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _apply_form(request, session, user, service_id, form, errors, status_code=422)
    try:
        create_application(session=session, data=data, user=user)
    except (InvalidInput, Forbidden) as exc:
        session.rollback()
        return _apply_form(
            request, session, user, service_id, form, {"__all__": exc.message}, exc.status_code
        )
    mark_sent(request, form_nonce)
    return redirect_with_flash("/applications", "application_submitted")


@router.post("/applications/{application_id}/approve", summary="批准申请")
def approve(
    request: Request,
    application_id: RecordId,
    session: SessionDep,
    user: StaffPage,
    quantity: FormText = "",
) -> Response:
    # Whose decision it is comes first: another center's staff get a 403, not a form error.
    get_application(
        session=session, application_id=application_id, user=user, action=Action.application_decide
    )
    typed = quantity.strip()[:32]

    def refused(message: str, status_code: int = 422) -> Response:
        # approve_application checks everything before it writes: nothing to roll back here.
        return _applications(
            request,
            session,
            user,
            errors={application_id: message},
            values={application_id: typed},
            status_code=status_code,
        )

    if not typed:
        return refused(messages.APPROVE_QUANTITY_REQUIRED)
    try:
        amount = ApplicationCreate.model_validate(
            {"service_id": 1, "quantity": typed, "purpose": "-"}
        ).quantity
    except ValidationError as exc:
        return refused(f"批准数量：{field_errors(exc).get('quantity', '')}")
    try:
        approve_application(
            session=session,
            application_id=application_id,
            quantity=amount,
            user=user,
        )
    except (InvalidInput, Conflict) as exc:
        return refused(exc.message, exc.status_code)
    return redirect_with_flash("/applications", "application_approved")


@router.post("/applications/{application_id}/reject", summary="驳回申请")
def reject(
    application_id: RecordId, session: SessionDep, user: StaffPage, reason: FormText = ""
) -> Response:
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("请填写驳回原因（不超过 500 字）")
    refused = text_error(reason)
    if refused:
        raise InvalidInput(refused, field="reason")
    reject_application(
        session=session,
        application_id=application_id,
        reason=reason,
        user=user,
    )
    return redirect_with_flash("/applications", "application_rejected")


@router.post("/applications/{application_id}/withdraw", summary="撤回申请")
def withdraw(application_id: RecordId, session: SessionDep, user: DistrictPage) -> Response:
    withdraw_application(session=session, application_id=application_id, user=user)
    return redirect_with_flash("/applications", "application_withdrawn")
