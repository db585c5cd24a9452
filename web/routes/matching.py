"""Matching API: recommendations for one request; batch proposals run/inspect/adjust/confirm."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from marketplace.accounts.permissions import Action
from marketplace.validation import RecordId
from matching.models import ConfirmedPair, Recommendations, RunAdjust, RunCreate, RunPublic
from matching.service import (
    RelevanceFactory,
    adjust_run,
    confirm_run,
    confirmed_pairs,
    discard_run,
    get_run,
    list_runs,
    recommend,
    relevance_factory_for,
    run_batch,
    run_view,
)
from web.deps import CurrentUser, MatchRunner, SessionDep, performs

router = APIRouter(tags=["matching"])


def _relevance(request: Request) -> RelevanceFactory:
    """The app's relevance factory (tests may set app.state.match_relevance)."""
    factory = getattr(request.app.state, "match_relevance", None)
    return factory or relevance_factory_for(request.app.state.settings)


@router.get(
    "/api/requests/{request_id}/recommendations",
    response_model=Recommendations,
    summary="为申请推荐专家（含理由）/ recommended experts with reasons",
    dependencies=[performs(Action.request_read)],
)
def recommendations(
    request_id: RecordId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    explain: bool = False,
) -> Recommendations:
    return recommend(
        session=session,
        request_id=request_id,
        user=user,
        relevance_factory=_relevance(request),
        k=k,
        explain_excluded=explain,
    )


@router.post(
    "/api/matching/runs",
    response_model=RunPublic,
    status_code=201,
    summary="运行批量匹配（工作人员）",
)
def create_run(
    data: RunCreate, request: Request, session: SessionDep, user: MatchRunner
) -> RunPublic:
    run = run_batch(
        session=session,
        user=user,
        relevance_factory=_relevance(request),
        request_ids=data.request_ids,
        method=data.method,
    )
    return run_view(session=session, run=run)


@router.get(
    "/api/matching/runs", response_model=list[RunPublic], summary="匹配方案列表（工作人员）"
)
def list_runs_route(session: SessionDep, user: MatchRunner) -> list[RunPublic]:
    return [run_view(session=session, run=r) for r in list_runs(session=session, user=user)]


@router.get(
    "/api/matching/runs/{run_id}", response_model=RunPublic, summary="查看匹配方案（工作人员）"
)
def read_run(run_id: RecordId, session: SessionDep, user: MatchRunner) -> RunPublic:
    return run_view(session=session, run=get_run(session=session, run_id=run_id, user=user))


@router.post(
    "/api/matching/runs/{run_id}/adjust",
    response_model=RunPublic,
    summary="调整匹配方案（工作人员）",
)
def adjust_run_route(
    request: Request, run_id: RecordId, data: RunAdjust, session: SessionDep, user: MatchRunner
) -> RunPublic:
    run = adjust_run(
        session=session,
        run_id=run_id,
        changes=data,
        user=user,
        relevance_factory=_relevance(request),
    )
    return run_view(session=session, run=run)


@router.post(
    "/api/matching/runs/{run_id}/confirm",
    response_model=RunPublic,
    summary="确认匹配方案（工作人员）",
)
def confirm_run_route(run_id: RecordId, session: SessionDep, user: MatchRunner) -> RunPublic:
    return run_view(session=session, run=confirm_run(session=session, run_id=run_id, user=user))


@router.post(
    "/api/matching/runs/{run_id}/discard",
    response_model=RunPublic,
    summary="放弃匹配方案（工作人员）",
)
def discard_run_route(run_id: RecordId, session: SessionDep, user: MatchRunner) -> RunPublic:
    return run_view(session=session, run=discard_run(session=session, run_id=run_id, user=user))


@router.get(
    "/api/matching/confirmed", response_model=list[ConfirmedPair], summary="已确认的匹配（待排期）"
)
def confirmed_route(
    session: SessionDep,
    user: MatchRunner,
    request_id: RecordId | None = None,
    expert_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[ConfirmedPair]:
    return confirmed_pairs(session=session, request_id=request_id, expert_id=expert_id, user=user)
