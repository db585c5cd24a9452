"""Report API (staff): the allocation report as JSON, CSV or Excel, for a month or a school term."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from marketplace import messages
from marketplace.errors import InvalidInput
from marketplace.reports.export import find_table, table_keys, to_csv, to_xlsx
from marketplace.reports.models import AllocationReport
from marketplace.reports.periods import Period, parse_period
from marketplace.reports.service import allocation_report
from marketplace.validation import RecordId
from web.deps import ReportReader, SessionDep

router = APIRouter(prefix="/api/reports", tags=["reports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=16, description="月份 YYYY-MM 或学期 YYYY-spring / YYYY-autumn；不填为全部时间"
    ),
]


def _period(text: str | None) -> Period | None:
    if not text:
        return None
    try:
        return parse_period(text)
    except ValueError:
        raise InvalidInput(messages.PERIOD_INVALID) from None


TableQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[a-z0-9_]+$",
        description="导出某一分项表（如 utilisation_by_domain、response_by_district）；不填为分配明细",
    ),
]


def _filename(period: Period | None, suffix: str, name: str = "allocation") -> str:
    return f"{name}-{period.key if period else 'all'}.{suffix}"


@router.get("/allocation", response_model=AllocationReport, summary="资源分配报表（JSON）")
def allocation_json(
    session: SessionDep,
    user: ReportReader,
    period: PeriodQuery = None,
    service_id: RecordId | None = None,
) -> AllocationReport:
    return allocation_report(
        session=session, period=_period(period), service_id=service_id, user=user
    )


@router.get("/allocation.csv", summary="资源分配报表（CSV）")
def allocation_csv(
    session: SessionDep,
    user: ReportReader,
    period: PeriodQuery = None,
    service_id: RecordId | None = None,
    table: TableQuery = None,
) -> Response:
    chosen = _period(period)
    # Every eligible district, those that received nothing too, as on the reports page.
    report = allocation_report(
        session=session, period=chosen, service_id=service_id, user=user, include_zero=True
    )
    section_table = find_table(report, table) if table else None
    if table and section_table is None:
        raise InvalidInput(
            messages.REPORT_TABLE_UNKNOWN.format(table=table, known="、".join(table_keys(report)))
        )
    return Response(
        to_csv(report, section_table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(chosen, "csv", table or "allocation")}"'
        },
    )


@router.get("/allocation.xlsx", summary="资源分配报表（Excel）")
def allocation_xlsx(
    session: SessionDep,
    user: ReportReader,
    period: PeriodQuery = None,
    service_id: RecordId | None = None,
) -> Response:
    chosen = _period(period)
    # Every eligible district, those that received nothing too, as on the reports page.
    report = allocation_report(
        session=session, period=chosen, service_id=service_id, user=user, include_zero=True
    )
    return Response(
        to_xlsx(report),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{_filename(chosen, "xlsx")}"'},
    )
