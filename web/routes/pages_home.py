"""Page: the role dashboard at /."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from marketplace.accounts.permissions import Action
from web.dashboard import panels_for
from web.deps import SessionDep, performs
from web.pages import PageUser
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", summary="首页", dependencies=[performs(Action.account)])
def dashboard(request: Request, session: SessionDep, user: PageUser) -> Response:
    return render(request, "dashboard.html", {"panels": panels_for(session=session, user=user)})
