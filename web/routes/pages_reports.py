"""Pages: the allocation report for staff (per district and service, equity, exports) and the
printable monthly report with every section and server-drawn charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from marketplace import messages
from marketplace.errors import InvalidInput
from marketplace.reports.models import AllocationReport, ReportChart, ReportColumn, ReportTable
from marketplace.reports.periods import Period, month_of, parse_period
from marketplace.reports.service import allocation_report
from marketplace.services.service import today
from web.deps import SessionDep
from web.pages import ReportPage
from web.report_charts import bar_chart, lorenz_chart
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/reports", summary="统计报表")
def reports_page(
    request: Request,
    session: SessionDep,
    user: ReportPage,
    period: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    chosen = None
    if period.strip():
        try:
            chosen = parse_period(period)
        except ValueError:
            raise InvalidInput(messages.PERIOD_INVALID) from None
    report = allocation_report(session=session, period=chosen, user=user)
    # Bars are scaled to the largest per-capita figure of each service.
    peaks: dict[int, float] = {}
    for row in report.rows:
        peaks[row.service_id] = max(peaks.get(row.service_id, 0.0), row.net_allocated_per_10k)
    return render(
        request,
        "reports.html",
        {"report": report, "period": period.strip(), "peaks": peaks, "bar_chart": bar_chart},
        fragments=("results",),
    )


def _month(text: str) -> Period:
    if not text.strip():
        return month_of(today())
    try:
        chosen = parse_period(text)
    except ValueError:
        chosen = None
    if chosen is None or chosen.end.month - chosen.start.month not in (1, -11):
        raise InvalidInput(messages.MONTHLY_PERIOD_INVALID)
    return chosen


def _district_tables(report: AllocationReport) -> list[ReportTable]:
    """One bar chart per service: net allocation per 10,000 students in each district."""
    tables: dict[int, ReportTable] = {}
    for row in report.rows:
        table = tables.setdefault(
            row.service_id,
            ReportTable(
                key=f"allocation_{row.service_id}",
                title=f"{row.service_name}：各区县净分配",
                columns=[ReportColumn(key="label", label="区县")],
                rows=[],
                chart=ReportChart(
                    label_key="label",
                    value_key="per_10k",
                    title=f"每万名学生净分配（{row.unit}）",
                ),
            ),
        )
        table.rows.append(
            {"label": f"{row.city} {row.district_name}", "per_10k": row.net_allocated_per_10k}
        )
    return list(tables.values())


@router.get("/reports/monthly", summary="月度报表（可打印）")
def monthly_report_page(
    request: Request,
    session: SessionDep,
    user: ReportPage,
    period: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    chosen = _month(period)
    report = allocation_report(session=session, period=chosen, user=user)
    previous = month_of(chosen.start - timedelta(days=1))
    return render(
        request,
        "reports/monthly.html",
        {
            "report": report,
            "period": chosen.key,
            "previous": previous.key,
            "following": month_of(chosen.end).key,
            "district_tables": _district_tables(report),
            "bar_chart": bar_chart,
            "lorenz_chart": lorenz_chart,
        },
    )
