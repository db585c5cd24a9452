"""Page: a city center's expert group (市级专家指导组). City staff keep their own city's group,
province staff pick any city; experts are found by name, attached with the zones (片区) they
serve, re-paired or detached. Over marketplace.centers.group (the same calls as the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.centers.group import expert_group, group_centers, remove_member, set_member
from marketplace.centers.models import GroupMemberSet
from marketplace.centers.service import label
from marketplace.experts.service import ExpertFilters, list_experts
from marketplace.validation import RecordId
from web.deps import SessionDep
from web.pages import page_allows, redirect_with_flash
from web.templating import render

router = APIRouter(include_in_schema=False)

GroupPage = Annotated[User, page_allows(Action.expert_group)]
CANDIDATES = 12


@router.get("/expert-groups", summary="市级专家指导组")
def group_page(
    request: Request,
    session: SessionDep,
    user: GroupPage,
    center_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    centers = group_centers(session=session, user=user)
    if center_id is None and centers:
        center_id = centers[0].id
    group = (
        None if center_id is None else expert_group(session=session, center_id=center_id, user=user)
    )
    members = set() if group is None else {m.expert_id for m in group.members}
    q = q.strip()
    candidates = []
    if q and group is not None:
        found, _ = list_experts(
            session=session, filters=ExpertFilters(name=q), page_size=CANDIDATES + len(members)
        )
        candidates = [e for e in found if e.id not in members][:CANDIDATES]
    context = {
        "centers": [(c.id, label(c)) for c in centers],
        "group": group,
        "q": q,
        "candidates": candidates,
    }
    return render(request, "centers/group.html", context, fragments=("candidates",))


def _back(center_id: int) -> str:
    return f"/expert-groups?center_id={center_id}"


@router.post("/expert-groups/{center_id}/members", summary="加入专家指导组或修改片区")
def save_member(
    session: SessionDep,
    user: GroupPage,
    center_id: RecordId,
    expert_id: Annotated[str, Form(max_length=64)] = "",
    zone_ids: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    data = GroupMemberSet(expert_id=expert_id, zone_ids=zone_ids)
    set_member(session=session, center_id=center_id, data=data, user=user)
    return redirect_with_flash(_back(center_id), "group_member_saved")


@router.post("/expert-groups/{center_id}/members/{expert_id}/delete", summary="移出专家指导组")
def delete_member(
    session: SessionDep, user: GroupPage, center_id: RecordId, expert_id: str
) -> Response:
    remove_member(session=session, center_id=center_id, expert_id=expert_id[:64], user=user)
    return redirect_with_flash(_back(center_id), "group_member_removed")
