"""Page: every user sees their account and edits their own e-mail address, phone and time zone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User, UserContactUpdate
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import public_user, update_contact
from marketplace.clock import DEFAULT_ZONE
from web.deps import SessionDep, performs
from web.pages import PageUser, field_errors, redirect_with_flash
from web.templating import posted_zone, render, zone_choices

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]


def _page(
    request: Request,
    session: Session,
    user: User,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "account": public_user(session=session, user=user),
        "zone_choices": zone_choices(),
        "form": form,
        "errors": errors or {},
    }
    return render(request, "account.html", context, status_code=status_code)


@router.get("/account", summary="我的账号", dependencies=[performs(Action.account)])
def account_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    form = {"email": user.email or "", "phone": user.phone or "", "timezone": user.timezone}
    return _page(request, session, user, form)


@router.post("/account", summary="保存联系方式", dependencies=[performs(Action.account)])
def account_submit(
    request: Request,
    session: SessionDep,
    user: PageUser,
    email: FormText = "",
    phone: FormText = "",
    timezone: FormText = DEFAULT_ZONE,
    timezone_other: FormText = "",
) -> Response:
    form = {
        "email": email[:300],
        "phone": phone[:64],
        "timezone": posted_zone(timezone, timezone_other),
    }
    try:
        data = UserContactUpdate.model_validate(form)
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _page(request, session, user, form, errors, status_code=422)
    update_contact(session=session, user=user, data=data)
    return redirect_with_flash("/account", "contact_saved")
