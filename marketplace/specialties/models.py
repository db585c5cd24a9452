"""The controlled specialty vocabulary that expert records refer to."""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class Specialty(SQLModel, table=True):
    __tablename__ = "specialty"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    domain: str = Field(max_length=32)
    synonyms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SpecialtyPublic(SQLModel):
    name: str
    domain: str
    synonyms: list[str]
