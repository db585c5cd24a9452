"""A resource center (资源中心): the province's, or a city's. A city center's region is its city's
districts; the province center's region is every district of the province."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


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
