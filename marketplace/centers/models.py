"""A resource center (资源中心): the province's, or a city's. A city center's region is its city's
districts; the province center's region is every district of the province."""

from __future__ import annotations

from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace.validation import InputModel, RecordId


class ResourceCenter(SQLModel, table=True):
    __tablename__ = "resource_center"
    id: int | None = Field(default=None, primary_key=True)
    # The province's name for the province center, the city's name for a city center.
    name: str = Field(max_length=64, unique=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    city_id: int | None = Field(default=None, foreign_key="city.id", unique=True)

    @property
    def is_province(self) -> bool:
        return self.city_id is None


class CenterExpert(SQLModel, table=True):
    """An expert's membership of a city center's expert group (市级专家指导组); the zones
    (片区) the expert serves are the `zone_expert` pairs of that city's zones."""

    __tablename__ = "center_expert"
    center_id: int = Field(foreign_key="resource_center.id", primary_key=True)
    expert_id: str = Field(
        foreign_key="expert.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class GroupZone(SQLModel):
    id: int
    name: str


class GroupMemberPublic(SQLModel):
    expert_id: str
    name: str
    domain: str
    zones: list[GroupZone]


class ExpertGroupPublic(SQLModel):
    center_id: int
    center: str
    zones: list[GroupZone]  # every zone of the city, to pair members with
    members: list[GroupMemberPublic]


class GroupMemberSet(InputModel):
    """Attach an expert to the group (or change their zones): the zones replace the old ones."""

    expert_id: str = PydanticField(min_length=1, max_length=64)
    zone_ids: list[RecordId] = PydanticField(default_factory=list, max_length=100)
