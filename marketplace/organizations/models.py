"""Employers of experts (schools, hospitals, universities, social-work stations)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    district_id: int | None = Field(default=None, foreign_key="district.id")
