"""Page (admin): the scheduled jobs — last and next run, errors, recent runs, "run now"."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.errors import NotFound
from marketplace.jobs.service import (
    current_lease,
    job_health,
    list_states,
    recent_runs,
    request_run,
)
from web.deps import SessionDep
from web.pages import page_allows, redirect_with_flash
from web.templating import render

router = APIRouter(include_in_schema=False)

OpsPage = Annotated[User, page_allows(Action.ops_manage)]
JobName = Annotated[str, Path(max_length=64, pattern=r"^[a-z_]+$")]


@router.get("/admin/jobs", summary="定时任务")
def jobs_page(request: Request, session: SessionDep, user: OpsPage) -> Response:
    now = request.app.state.clock()
    grace = timedelta(minutes=request.app.state.settings.health_job_grace_minutes)
    health = {h.name: h for h in job_health(session=session, now=now, grace=grace)}
    jobs = [
        {
            "state": state,
            "label": messages.JOB_LABELS.get(state.name, messages.JOB_UNNAMED),
            "description": messages.JOB_DESCRIPTIONS.get(state.name, ""),
            "health": health.get(state.name),
        }
        for state in list_states(session=session)
    ]
    return render(
        request,
        "admin/jobs.html",
        {
            "jobs": jobs,
            "runs": recent_runs(session=session, limit=30),
            "labels": messages.JOB_LABELS,
            "unnamed": messages.JOB_UNNAMED,
            "lease": current_lease(session=session),
            "now": now,
            "scheduler_here": request.app.state.scheduler is not None,
        },
    )


@router.post("/admin/jobs/{name}/run", summary="立即运行定时任务")
def run_job_now(request: Request, name: JobName, session: SessionDep, user: OpsPage) -> Response:
    now = request.app.state.clock()
    state = request_run(session=session, name=name, by=user.username, now=now)
    if state is None:
        raise NotFound(messages.JOB_UNKNOWN.format(name=name))
    record(
        session=session,
        actor=actor_for(user),
        action="job.run_requested",
        entity_type="job",
        entity_id=name,
        after={"requested_at": now.isoformat()},
    )
    return redirect_with_flash("/admin/jobs", "job_run_requested")
