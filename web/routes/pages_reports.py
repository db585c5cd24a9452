"""Page: the allocation report for staff (per district and service, equity, exports)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from marketplace import messages
from marketplace.errors import InvalidInput
from marketplace.reports.periods import parse_period
from marketplace.reports.service import allocation_report
from web.deps import SessionDep
from web.pages import StaffPage
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/reports", summary="统计报表")
def reports_page(
    request: Request,
    session: SessionDep,
    user: StaffPage,
    period: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    chosen = None
    if period.strip():
        try:
            chosen = parse_period(period)
        except ValueError:
            raise InvalidInput(messages.PERIOD_INVALID) from None
    report = allocation_report(session=session, period=chosen)
    # Bars are scaled to the largest per-capita figure of each service.
    peaks: dict[int, float] = {}
    for row in report.rows:
        peaks[row.service_id] = max(peaks.get(row.service_id, 0.0), row.net_allocated_per_10k)
    return render(
        request,
        "reports.html",
        {"report": report, "period": period.strip(), "peaks": peaks},
        fragments=("results",),
    )
