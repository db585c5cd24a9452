"""Reference data: the specialty vocabulary and the region tree."""

from __future__ import annotations

from fastapi import APIRouter

from marketplace.accounts.permissions import Action
from marketplace.districts.models import DistrictPublic
from marketplace.districts.service import list_districts
from marketplace.specialties.models import SpecialtyPublic
from marketplace.specialties.service import list_specialties
from web.deps import CurrentUser, SessionDep, performs

router = APIRouter(prefix="/api", tags=["reference"])


@router.get(
    "/specialties",
    response_model=list[SpecialtyPublic],
    summary="专长词表",
    dependencies=[performs(Action.expert_read)],
)
def read_specialties(session: SessionDep, user: CurrentUser) -> list[SpecialtyPublic]:
    return [
        SpecialtyPublic.model_validate(s, from_attributes=True)
        for s in list_specialties(session=session)
    ]


@router.get(
    "/districts",
    response_model=list[DistrictPublic],
    summary="区县列表",
    dependencies=[performs(Action.expert_read)],
)
def read_districts(session: SessionDep, user: CurrentUser) -> list[DistrictPublic]:
    return list_districts(session=session)
