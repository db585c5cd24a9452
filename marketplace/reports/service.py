"""The allocation report: per district and per service, per capita, equity, and pluggable sections.

Other modules add their own sections (expert utilisation, request response times, sessions and
ratings) with `register_section`, so this module never imports booking or matching: a section
not registered yet is reported as not available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

from sqlmodel import Session, col, select

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, reach
from marketplace.allocation.balances import Totals, ledger_totals
from marketplace.applications.models import ServiceApplication
from marketplace.clock import utcnow
from marketplace.districts.models import City, District
from marketplace.ids import stored_id
from marketplace.reports.equity import gini, lorenz_curve
from marketplace.reports.models import AllocationReport, AllocationRow, ReportSection, ServiceEquity
from marketplace.reports.periods import Period
from marketplace.services.models import ProcuredService
from marketplace.services.quantity import PER_STUDENTS, from_hundredths
from marketplace.services.service import is_eligible, list_services

# A section over the given districts (None: every district), for the period.
SectionProvider = Callable[[Session, Period | None, frozenset[int] | None], ReportSection]


@dataclass(frozen=True)
class _Registered:
    title: str
    provider: SectionProvider | None


_SECTIONS: dict[str, _Registered] = {}


def register_section(key: str, title: str, provider: SectionProvider | None = None) -> None:
    """Add (or replace) a report section; with no provider it is listed as not yet available."""
    _SECTIONS[key] = _Registered(title, provider)


def _per_10k(amount: int, students: int) -> float:
    return round(from_hundredths(amount) * PER_STUDENTS / students, 4) if students > 0 else 0.0


def allocation_report(
    *,
    session: Session,
    period: Period | None = None,
    service_id: int | None = None,
    user: User,
    include_zero: bool = False,
) -> AllocationReport:
    """Allocated, used and per-capita figures per district and service, with equity measures
    (`include_zero`: a row for every eligible district, also those that received nothing), as
    far as the policy lets `user` read reports: everything for scope `all`; for a regional
    scope (city staff, observers) their region's districts, the services they see (the
    province-wide ones' allocations to those districts included), every section limited to
    the region."""
    regional = reach(session, user, Action.report_read)
    query = select(ProcuredService).order_by(col(ProcuredService.id))
    if service_id is not None:
        query = query.where(ProcuredService.id == service_id)
    services = list(session.exec(query).all())
    if regional is not None:
        services = list_services(session=session, user=user)
        if service_id is not None:
            services = [s for s in services if s.id == service_id]
    district_query = (
        select(District, City)
        .join(City, col(City.id) == District.city_id)
        .order_by(col(District.id))
    )
    if regional is not None:
        district_query = district_query.where(col(District.id).in_(sorted(regional)))
    districts = session.exec(district_query).all()
    flows = ledger_totals(
        session=session,
        by="service_district",
        service_ids=[stored_id(s) for s in services],
        since=period.start_at if period else None,
        until=period.end_at if period else None,
    )
    rows: list[AllocationRow] = []
    equity: list[ServiceEquity] = []
    for service in services:
        eligible = [(d, c) for d, c in districts if is_eligible(service, d)]
        amounts, weights = [], []
        service_total = Totals()
        for district, city in eligible:
            t = flows.get((service.id, district.id), Totals())
            net = t.committed
            amounts.append(from_hundredths(net))
            weights.append(max(district.student_count, 1))
            service_total = Totals(
                service_total.allocated + t.allocated,
                service_total.released + t.released,
                service_total.expired + t.expired,
                service_total.consumed + t.consumed,
            )
            if t == Totals() and not include_zero:
                continue
            rows.append(
                AllocationRow(
                    service_id=stored_id(service),
                    service_name=service.name,
                    kind=service.kind,
                    unit=service.unit,
                    district_id=stored_id(district),
                    district_name=district.name,
                    city=city.name,
                    students=district.student_count,
                    allocated=from_hundredths(t.allocated),
                    released=from_hundredths(t.released),
                    net_allocated=from_hundredths(net),
                    used=from_hundredths(t.consumed),
                    expired=from_hundredths(t.expired),
                    net_allocated_per_10k=_per_10k(net, district.student_count),
                    used_per_10k=_per_10k(t.consumed, district.student_count),
                )
            )
        net_total = service_total.committed
        equity.append(
            ServiceEquity(
                service_id=stored_id(service),
                service_name=service.name,
                unit=service.unit,
                bought=from_hundredths(service.quantity_hundredths),
                net_allocated=from_hundredths(net_total),
                used=from_hundredths(service_total.consumed),
                utilisation=round(service_total.consumed / net_total, 4) if net_total > 0 else None,
                districts_eligible=len(eligible),
                districts_reached=sum(1 for a in amounts if a > 0),
                gini=round(gini(amounts, weights), 4),
                lorenz=[(round(x, 4), round(y, 4)) for x, y in lorenz_curve(amounts, weights)],
            )
        )
    return AllocationReport(
        period_key=period.key if period else None,
        period_label=period.label if period else "全部时间",
        start=period.start if period else None,
        end=period.end if period else None,
        generated_at=utcnow(),
        rows=rows,
        services=equity,
        sections=[_application_response(session, period, regional)]
        + _registered_sections(session, period, regional),
    )


def _registered_sections(
    session: Session, period: Period | None, districts: frozenset[int] | None
) -> list[ReportSection]:
    sections = []
    for key, registered in _SECTIONS.items():
        if registered.provider is None:
            sections.append(
                ReportSection(
                    key=key, title=registered.title, available=False, note="相关模块上线后提供"
                )
            )
        else:
            sections.append(registered.provider(session, period, districts))
    return sections


def _application_response(
    session: Session, period: Period | None, districts: frozenset[int] | None
) -> ReportSection:
    """How long staff took to decide applications of `districts` submitted in the period."""
    query = select(ServiceApplication.created_at, ServiceApplication.decided_at).where(
        col(ServiceApplication.decided_at).is_not(None)
    )
    if districts is not None:
        query = query.where(col(ServiceApplication.district_id).in_(sorted(districts)))
    if period is not None:
        query = query.where(
            ServiceApplication.created_at >= period.start_at,
            ServiceApplication.created_at < period.end_at,
        )
    hours = [
        (decided - created).total_seconds() / 3600
        for created, decided in session.exec(query).all()
        if decided is not None  # the query keeps decided applications only
    ]
    data = {
        "decided": len(hours),
        "median_hours": round(median(hours), 2) if hours else None,
        "max_hours": round(max(hours), 2) if hours else None,
    }
    return ReportSection(
        key="application_response",
        title="服务申请审批用时",
        available=True,
        data=data,
        data_labels={
            "decided": "已审批",
            "median_hours": "用时中位数（小时）",
            "max_hours": "最长用时（小时）",
        },
    )


register_section("expert_utilisation", "专家工作量与利用率")
register_section("request_response", "区县需求响应时间")
register_section("sessions_ratings", "服务场次与评价")
