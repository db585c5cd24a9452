"""Pages (staff): run batch matching over the open requests, review the proposal (pairs with
scores and reasons, unserved requests with reasons), adjust it, confirm or discard it, and
compare earlier runs.

Over matching.service (run_batch, adjust_run, confirm_run, discard_run): every hard rule and
capacity check is theirs; this module only turns forms into calls and runs into pages.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, reach
from marketplace.errors import Conflict, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.requests.service import load_request, open_requests, public_views
from marketplace.validation import RecordId
from matching.models import PairRole, PairStatus, RunAdjust, RunStatus
from matching.review import fit_word, is_active, review_summary
from matching.service import (
    adjust_run,
    confirm_run,
    discard_run,
    get_run,
    list_runs,
    relevance_factory_for,
    run_alternates,
    run_batch,
    run_view,
)
from web.deps import SessionDep
from web.pages import MatchPage, mark_sent, redirect_with_flash, sent_before
from web.request_names import request_name, request_names
from web.templating import is_htmx, render, viewer_zone

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
METHODS = {"solver": "最优分配（求解器）", "greedy": "快速分配（贪心）"}


def _relevance(request: Request):  # type: ignore[no-untyped-def]
    factory = getattr(request.app.state, "match_relevance", None)
    return factory or relevance_factory_for(request.app.state.settings)


def _runs_page(
    request: Request, session: Session, user: User, *, error: str = "", status_code: int = 200
) -> Response:
    runs = [
        run_view(session=session, run=r) for r in list_runs(session=session, limit=30, user=user)
    ]
    districts = reach(session, user, Action.match_run)
    waiting = [
        r for r in open_requests(session=session) if districts is None or r.district_id in districts
    ]
    return render(
        request,
        "matching/runs.html",
        {
            "runs": runs,
            "open_count": len(waiting),
            "methods": METHODS,
            "nonce": secrets.token_urlsafe(16),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/matching", summary="批量匹配")
def matching_page(request: Request, session: SessionDep, user: MatchPage) -> Response:
    return _runs_page(request, session, user)


@router.post("/matching/runs", summary="运行批量匹配")
def start_run(
    request: Request,
    session: SessionDep,
    user: MatchPage,
    method: FormText = "solver",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
        return redirect_with_flash("/matching", "duplicate_submission")
    try:
        with session.begin_nested():
            run = run_batch(
                session=session,
                user=user,
                relevance_factory=_relevance(request),
                method=method if method in METHODS else "solver",
            )
    except InvalidInput as exc:
        return _runs_page(request, session, user, error=exc.message, status_code=422)
    mark_sent(request, form_nonce)
    return redirect_with_flash(f"/matching/runs/{run.id}", "match_run_created")


def _run_page(
    request: Request,
    session: Session,
    user: User,
    run_id: int,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    run = run_view(session=session, run=get_run(session=session, run_id=run_id, user=user))
    requests = {
        r.id: r
        for r in public_views(
            session=session,
            requests=[load_request(session=session, request_id=i) for i in run.request_ids],
        )
    }
    expert_ids = {p.expert_id for p in run.pairs}
    experts = {e: session.get(Expert, e) for e in expert_ids}
    names = {e: (x.name if x is not None else e) for e, x in experts.items()}
    groups: list[dict[str, Any]] = []
    for request_id in run.request_ids:
        pairs = [p for p in run.pairs if p.request_id == request_id]
        groups.append(
            {
                "request": requests.get(request_id),
                "assigned": [
                    p
                    for p in pairs
                    if p.role == PairRole.assigned and p.status != PairStatus.removed
                ],
                "removed": [p for p in pairs if p.status == PairStatus.removed],
                "alternates": sorted(
                    (p for p in pairs if p.role == PairRole.alternate and not is_active(p)),
                    key=lambda p: -p.score,
                ),
                "unassigned": [
                    u["reason"] for u in run.unassigned if u["request_id"] == request_id
                ],
            }
        )
    needs = {r: (requests[r].experts_needed if r in requests else 1) for r in run.request_ids}
    zone = viewer_zone({"current_user": user})
    return render(
        request,
        "matching/run.html",
        {
            "run": run,
            "review": review_summary(run.pairs, needs),
            "fit_word": fit_word,
            "groups": groups,
            "names": names,
            # the review's lists name requests as the cards do, not by number
            "request_names": {
                i: request_name(r, r.district.district, zone) for i, r in requests.items()
            },
            "methods": METHODS,
            "editable": run.status == RunStatus.proposed,
            "error": error,
            "form": form or {},
        },
        status_code=status_code,
        fragments=("proposal",),
    )


@router.get("/matching/runs/{run_id}", summary="审核匹配方案")
def run_page(request: Request, run_id: RecordId, session: SessionDep, user: MatchPage) -> Response:
    return _run_page(request, session, user, run_id)


@router.post("/matching/runs/{run_id}/adjust", summary="调整匹配方案")
def adjust(
    request: Request,
    run_id: RecordId,
    session: SessionDep,
    user: MatchPage,
    action: FormText = "",
    request_id: FormText = "",
    expert_id: FormText = "",
    replace_with: FormText = "",
) -> Response:
    get_run(
        session=session, run_id=run_id, user=user
    )  # an unknown run is a 404 page, not a form error
    form = {"request_id": request_id.strip()[:12], "expert_id": expert_id.strip()[:32]}
    try:
        pair = {"request_id": form["request_id"], "expert_id": form["expert_id"]}
        if action == "replace":  # one click: the assigned expert out, an alternate in
            alternate = {"request_id": form["request_id"], "expert_id": replace_with.strip()[:32]}
            changes = RunAdjust.model_validate({"remove": [pair], "add": [alternate]})
        else:
            changes = RunAdjust.model_validate(
                {"remove": [pair]} if action == "remove" else {"add": [pair]}
            )
    except ValidationError:
        return _run_page(
            request,
            session,
            user,
            run_id,
            error=messages.MATCH_PAIR_FORM,
            form=form,
            status_code=422,
        )
    try:
        with session.begin_nested():
            adjust_run(
                session=session,
                run_id=run_id,
                changes=changes,
                user=user,
                relevance_factory=_relevance(request),
            )
    except (InvalidInput, NotFound, Conflict) as exc:
        return _run_page(
            request,
            session,
            user,
            run_id,
            error=exc.message,
            form=form,
            status_code=409 if isinstance(exc, Conflict) else 422,
        )
    if request.headers.get("HX-Request") == "true":
        return _run_page(request, session, user, run_id)
    return redirect_with_flash(f"/matching/runs/{run_id}", "match_run_adjusted")


@router.get("/matching/runs/{run_id}/alternates", summary="按姓名查找可替换的专家")
def alternates(
    request: Request,
    run_id: RecordId,
    session: SessionDep,
    user: MatchPage,
    request_id: RecordId,
    expert_id: Annotated[str, Query(max_length=32)] = "",
    name: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Feasible experts for a place on one request of the run, best fit first, by name: each
    with a button that puts them in (in place of `expert_id` when given)."""
    run = run_view(session=session, run=get_run(session=session, run_id=run_id, user=user))
    items = run_alternates(
        session=session,
        run_id=run_id,
        request_id=request_id,
        user=user,
        relevance_factory=_relevance(request),
        name=name,
    )
    context = {
        "run": run,
        "request_id": request_id,
        "request_name": request_names(
            session=session, request_ids=[request_id], zone=viewer_zone({"current_user": user})
        ).get(request_id, ""),
        "expert_id": expert_id.strip(),
        "replaced": _expert_name(session, expert_id.strip()),
        "name": name.strip(),
        "items": items,
        "fit_word": fit_word,
        "editable": run.status == RunStatus.proposed,
    }
    # htmx asks for the list alone (it fills the box under the search field); a browser
    # without JavaScript gets it as a page of its own.
    return render(
        request,
        "matching/alternates.html",
        context,
        block="alternates" if is_htmx(request) else None,
    )


def _expert_name(session: Session, expert_id: str) -> str:
    expert = session.get(Expert, expert_id) if expert_id else None
    return expert.name if expert is not None else ""


@router.post("/matching/runs/{run_id}/confirm", summary="确认匹配方案")
def confirm(run_id: RecordId, session: SessionDep, user: MatchPage) -> Response:
    confirm_run(session=session, run_id=run_id, user=user)
    return redirect_with_flash(f"/matching/runs/{run_id}", "match_run_confirmed")


@router.post("/matching/runs/{run_id}/discard", summary="放弃匹配方案")
def discard(run_id: RecordId, session: SessionDep, user: MatchPage) -> Response:
    discard_run(session=session, run_id=run_id, user=user)
    return redirect_with_flash("/matching", "match_run_discarded")
