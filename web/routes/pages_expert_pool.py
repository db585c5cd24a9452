"""Page: staff pause or re-activate an expert with a reason, and verify a profile.

Over marketplace.experts (update_expert); the reason and who verified when are kept in the
audit log (`expert.pause`, `expert.activate`, `expert.verify`), shown on the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import actor_for
from marketplace.audit.service import list_entries, record
from marketplace.experts.models import ExpertAdminUpdate
from marketplace.experts.service import get_expert, public_view, update_expert
from marketplace.vocabulary import ExpertStatus
from web.audit_view import describe
from web.deps import SessionDep
from web.pages import page_allows, redirect_with_flash, text_error
from web.templating import render

router = APIRouter(include_in_schema=False)

PoolPage = Annotated[User, page_allows(Action.expert_manage)]
FormText = Annotated[str, Form()]
_ACTIONS = ["expert.pause", "expert.activate", "expert.verify"]


def _page(
    request: Request,
    session: Session,
    user: User,
    expert_id: str,
    *,
    errors: dict[str, str] | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    expert = public_view(session=session, expert=get_expert(session=session, expert_id=expert_id))
    history, _ = list_entries(
        session=session, entity_type="expert", entity_id=expert.id, actions=_ACTIONS, page_size=20
    )
    context = {
        "expert": expert,
        "history": describe(history, user),
        "errors": errors or {},
        "reason": reason,
    }
    return render(request, "experts/status.html", context, status_code=status_code)


@router.get("/experts/{expert_id}/status", summary="专家状态与认证")
def status_page(request: Request, session: SessionDep, user: PoolPage, expert_id: str) -> Response:
    return _page(request, session, user, expert_id[:32])


@router.post("/experts/{expert_id}/status", summary="暂停或恢复专家")
def change_status(
    request: Request,
    session: SessionDep,
    user: PoolPage,
    expert_id: str,
    status: FormText = "",
    reason: FormText = "",
) -> Response:
    expert_id = expert_id[:32]
    reason = reason.strip()[:500]
    if status not in (ExpertStatus.paused.value, ExpertStatus.active.value):
        return _page(
            request, session, user, expert_id, errors={"status": messages.FORM_HAS_ERRORS},
            status_code=422,
        )  # fmt: skip
    refused = messages.EXPERT_STATUS_REASON_REQUIRED if not reason else text_error(reason)
    if refused:
        return _page(request, session, user, expert_id, errors={"reason": refused}, status_code=422)
    update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(status=ExpertStatus(status)),
        actor=actor_for(user),
    )
    record(
        session=session,
        actor=actor_for(user),
        action="expert.pause" if status == ExpertStatus.paused.value else "expert.activate",
        entity_type="expert",
        entity_id=expert_id,
        after={"status": status, "reason": reason},
    )
    return redirect_with_flash(f"/experts/{expert_id}/status", "expert_status_changed")


@router.post("/experts/{expert_id}/verify", summary="认证专家")
def verify(request: Request, session: SessionDep, user: PoolPage, expert_id: str) -> Response:
    expert_id = expert_id[:32]
    update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(verified=True),
        actor=actor_for(user),
    )
    record(
        session=session,
        actor=actor_for(user),
        action="expert.verify",
        entity_type="expert",
        entity_id=expert_id,
        after={"verified": True},
    )
    return redirect_with_flash(f"/experts/{expert_id}/status", "expert_verified")
