"""City expert groups API: the experts a city center keeps (市级专家指导组) and their zones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.centers.group import expert_group, remove_member, set_member
from marketplace.centers.models import ExpertGroupPublic, GroupMemberPublic, GroupMemberSet
from marketplace.validation import RecordId
from web.deps import SessionDep, allowed_to

router = APIRouter(prefix="/api/centers", tags=["centers"])
GroupKeeper = Annotated[User, Depends(allowed_to(Action.expert_group))]


@router.get(
    "/{center_id}/experts",
    response_model=ExpertGroupPublic,
    summary="市级专家指导组：成员及其片区 / a city's expert group",
)
def read_group(center_id: RecordId, session: SessionDep, user: GroupKeeper) -> ExpertGroupPublic:
    return expert_group(session=session, center_id=center_id, user=user)


@router.post(
    "/{center_id}/experts",
    response_model=GroupMemberPublic,
    summary="加入专家指导组或修改其片区 / attach an expert, pair zones",
)
def attach_expert(
    center_id: RecordId, data: GroupMemberSet, session: SessionDep, user: GroupKeeper
) -> GroupMemberPublic:
    return set_member(session=session, center_id=center_id, data=data, user=user)


@router.delete(
    "/{center_id}/experts/{expert_id}",
    status_code=204,
    summary="移出专家指导组 / detach an expert",
)
def detach_expert(
    center_id: RecordId, expert_id: str, session: SessionDep, user: GroupKeeper
) -> Response:
    remove_member(session=session, center_id=center_id, expert_id=expert_id[:64], user=user)
    return Response(status_code=204)
