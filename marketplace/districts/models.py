"""Regions: province → city → district, and collaboration zones (片区) within a city."""

from __future__ import annotations

from sqlmodel import Field, SQLModel, UniqueConstraint


class Province(SQLModel, table=True):
    __tablename__ = "province"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)


class City(SQLModel, table=True):
    __tablename__ = "city"
    __table_args__ = (UniqueConstraint("province_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    name: str = Field(max_length=64)


class Zone(SQLModel, table=True):
    """A collaboration zone (片区): districts of one city that share a city expert group."""

    __tablename__ = "zone"
    __table_args__ = (UniqueConstraint("city_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    city_id: int = Field(foreign_key="city.id", index=True)
    name: str = Field(max_length=64)


class District(SQLModel, table=True):
    __tablename__ = "district"
    __table_args__ = (UniqueConstraint("city_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    city_id: int = Field(foreign_key="city.id", index=True)
    zone_id: int | None = Field(default=None, foreign_key="zone.id", index=True)
    name: str = Field(max_length=64)
    student_count: int = Field(default=0, ge=0)


class ZoneExpert(SQLModel, table=True):
    """Membership of an expert in a zone's city expert group."""

    __tablename__ = "zone_expert"
    zone_id: int = Field(foreign_key="zone.id", primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", primary_key=True, ondelete="CASCADE")


class DistrictPublic(SQLModel):
    id: int
    province: str
    city: str
    district: str
    zone: str | None = None
    student_count: int = 0
