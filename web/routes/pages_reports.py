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
from marketplace.reports.periods import Period, month_of, parse_period, recent_periods
from marketplace.reports.service import allocation_report
from marketplace.services.service import today
from web.deps import SessionDep
from web.pages import ReportPage
from web.report_charts import bar_chart, lorenz_chart, tile_map
from web.templating import render

router = APIRouter(include_in_schema=False)


DISTRICT_PAGE_SIZE = 30
SORTS = {
    "low": ("每万名学生从低到高", lambda r: (r.net_allocated_per_10k, r.district_id)),
    "high": ("每万名学生从高到低", lambda r: (-r.net_allocated_per_10k, r.district_id)),
    "district": ("按区县", lambda r: (r.city, r.district_name, r.service_id)),
}


@router.get("/reports", summary="统计报表")
def reports_page(
    request: Request,
    session: SessionDep,
    user: ReportPage,
    period: Annotated[str, Query(max_length=16)] = "",
    service_id: Annotated[int | None, Query(ge=1)] = None,
    sort: Annotated[str, Query(max_length=16)] = "low",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    chosen = None
    if period.strip():
        try:
            chosen = parse_period(period)
        except ValueError:
            raise InvalidInput(messages.PERIOD_INVALID) from None
    report = allocation_report(session=session, period=chosen, user=user, include_zero=True)
    # Bars are scaled to the largest per-capita figure of each service.
    peaks: dict[int, float] = {}
    for row in report.rows:
        peaks[row.service_id] = max(peaks.get(row.service_id, 0.0), row.net_allocated_per_10k)
    # Every eligible district, zero included, one service at a time, sorted and paginated.
    services = [(s.service_id, s.service_name) for s in report.services]
    shown = service_id if service_id in {i for i, _ in services} else None
    if shown is None and services:
        shown = services[0][0]
    sort = sort if sort in SORTS else "low"
    rows = sorted((r for r in report.rows if r.service_id == shown), key=SORTS[sort][1])
    pages = max(1, -(-len(rows) // DISTRICT_PAGE_SIZE))
    page = min(page, pages)
    params = {"period": period.strip(), "service_id": shown or "", "sort": sort}
    unit = next((r.unit for r in rows), "")
    name = dict(services).get(shown, "") if shown else ""
    values = sorted(
        ((r.city, r.district_name, r.net_allocated_per_10k) for r in rows),
        key=lambda t: (t[0], t[1]),
    )
    title = f"{name}：各区县每万名学生净分配（{unit}）"
    # Two layouts of one map: 14 tiles a row on a laptop, 6 on a phone, where the wide one
    # would shrink its tiles and names to a few pixels (CSS shows the one that fits).
    tiles = tile_map(values, title=title, unit=unit, variant="wide") + tile_map(
        values, title=title, unit=unit, columns=6, variant="phone"
    )
    return render(
        request,
        "reports.html",
        {
            "report": report,
            "period": period.strip(),
            "period_choices": [
                (p.key, p.label)
                for p in ([chosen] if chosen else []) + recent_periods(today())
                if p is chosen or chosen is None or p.key != chosen.key
            ],
            "peaks": peaks,
            "bar_chart": bar_chart,
            "service_choices": services,
            "sort_choices": [(k, label) for k, (label, _) in SORTS.items()],
            "tile_map": tiles,
            "district_rows": rows[(page - 1) * DISTRICT_PAGE_SIZE : page * DISTRICT_PAGE_SIZE],
            "district_count": len(rows),
            "zero_count": sum(1 for r in rows if r.net_allocated == 0),
            "params": params,
            "page": page,
            "pages": pages,
        },
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
