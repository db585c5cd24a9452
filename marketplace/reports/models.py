"""Report shapes (JSON, and the rows behind the CSV and Excel exports)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class AllocationRow(BaseModel):
    """One district's flows of one service within the period."""

    service_id: int
    service_name: str
    kind: str
    unit: str
    district_id: int
    district_name: str
    city: str
    students: int
    allocated: float
    released: float
    net_allocated: float
    used: float
    expired: float
    net_allocated_per_10k: float
    used_per_10k: float


class ServiceEquity(BaseModel):
    """A service across the districts eligible for it: totals, Gini and Lorenz curve."""

    service_id: int
    service_name: str
    unit: str
    bought: float
    net_allocated: float
    used: float
    utilisation: float | None  # used / net allocated
    districts_eligible: int
    districts_reached: int
    gini: float  # of net allocation per student, weighted by students
    lorenz: list[tuple[float, float]]


class ReportColumn(BaseModel):
    key: str
    label: str
    percent: bool = False  # a ratio shown as a percentage


class ReportChart(BaseModel):
    """A horizontal bar chart of one table: a label column against a numeric column."""

    label_key: str
    value_key: str
    title: str
    # Full scale of the bars (1.0 for a ratio); None: the largest value in the table.
    scale: float | None = None
    percent: bool = False


class ReportTable(BaseModel):
    """A table of a section, exported as CSV (`?table=key`) and as an Excel sheet."""

    key: str  # unique across the report
    title: str
    columns: list[ReportColumn]
    rows: list[dict[str, Any]]
    chart: ReportChart | None = None


class ReportSection(BaseModel):
    """A part of the report contributed by another module (booking, matching) once it exists."""

    key: str
    title: str
    available: bool
    note: str = ""
    data: dict[str, Any] | list[Any] | None = None  # headline figures
    data_labels: dict[str, str] = {}  # Chinese labels of the headline figures shown on pages
    tables: list[ReportTable] = []


class AllocationReport(BaseModel):
    period_key: str | None
    period_label: str
    start: date | None
    end: date | None
    generated_at: datetime
    rows: list[AllocationRow]
    services: list[ServiceEquity]
    sections: list[ReportSection]
