"""Page: an expert edits their own profile; validation errors are shown next to the fields."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from marketplace import messages
from marketplace.errors import DomainError
from marketplace.experts.models import ExpertPublic, ExpertUpdate
from marketplace.experts.service import get_expert, public_view, update_expert
from web.deps import SessionDep
from web.expert_form import (
    PostedProfile,
    changes_from_form,
    form_choices,
    form_from_expert,
    posted_profile,
    submitted_form,
)
from web.pages import FLASH_MESSAGES, ExpertPage, field_errors, set_flash
from web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    session: Session,
    expert: ExpertPublic,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    context = {
        "expert": expert,
        "form": form,
        "errors": errors or {},
        "notice": notice,
        **form_choices(session),
    }
    return render(
        request, "profile.html", context, status_code=status_code, fragments=("profile_form",)
    )


def _own_expert(session: Session, user: Any) -> ExpertPublic:
    return public_view(
        session=session, expert=get_expert(session=session, expert_id=user.expert_id or "")
    )


@router.get("/profile", summary="我的资料")
def profile_page(request: Request, session: SessionDep, user: ExpertPage) -> Response:
    expert = _own_expert(session, user)
    return _page(request, session, expert, form_from_expert(expert))


@router.post("/profile", summary="保存我的资料")
def profile_submit(
    request: Request,
    session: SessionDep,
    user: ExpertPage,
    posted: Annotated[PostedProfile, Depends(posted_profile)],
) -> Response:
    form = submitted_form(posted.texts, posted.formats, posted.service_types)
    form["region"] = posted.region[:300]
    expert = _own_expert(session, user)
    try:
        changes = ExpertUpdate.model_validate(changes_from_form(form))
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _page(request, session, expert, form, errors, status_code=422)
    before = expert.updated_at
    try:
        updated = update_expert(session=session, expert_id=expert.id, data=changes, user=user)
    except DomainError as exc:
        session.rollback()  # the service may have touched the row before refusing
        errors = {"__all__": exc.message}
        if exc.field is not None:
            errors[exc.field] = exc.message
        return _page(request, session, expert, form, errors, status_code=exc.status_code)
    outcome = "profile_saved" if updated.updated_at != before else "profile_unchanged"
    if is_htmx(request):  # htmx swaps the form in place: show the outcome inside it
        fresh = public_view(session=session, expert=updated)
        return _page(
            request, session, fresh, form_from_expert(fresh), notice=FLASH_MESSAGES[outcome]
        )
    response = RedirectResponse("/profile", status_code=303)  # post/redirect/get without JS
    set_flash(response, outcome)
    return response
