"""Report sections owned by booking: expert utilisation, and sessions and ratings per district.

They plug into `marketplace.reports` through `register_section` (marketplace never imports
booking); `register_report_sections()` is called where the app is assembled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Literal, TypedDict

from sqlmodel import Session, col, select

from booking.schedule.models import AvailabilityProfile
from booking.sessions.models import Booking, BookingKind, BookingRating, BookingStatus
from marketplace import messages
from marketplace.districts.models import City, District
from marketplace.experts.models import Expert
from marketplace.reports.models import ReportChart, ReportColumn, ReportSection, ReportTable
from marketplace.reports.periods import Period, month_of
from marketplace.reports.service import register_section
from marketplace.reports.stats import mean_or_none, ratio
from marketplace.services.service import today
from marketplace.vocabulary import ExpertStatus

UTILISATION_KEY = "expert_utilisation"
SESSIONS_KEY = "sessions_ratings"
# Sessions that took (or still hold) the expert's time; declined and cancelled ones did not.
BOOKED_STATUSES = (
    BookingStatus.requested.value,
    BookingStatus.confirmed.value,
    BookingStatus.completed.value,
    BookingStatus.no_show.value,
)


def _columns(*pairs: tuple[str, str]) -> list[ReportColumn]:
    return [ReportColumn(key=k, label=label, percent="utilisation" in k) for k, label in pairs]


_GROUP_COLUMNS = (
    ("experts", "专家数"),
    ("capacity_hours", "可用小时"),
    ("booked_hours", "已预约小时"),
    ("completed_hours", "已完成小时"),
    ("utilisation", "利用率"),
)


def _utilisation_by(
    rows: list[UtilisationRow],
    key: Literal["domain", "city"],
    label: str,
    *,
    title: str,
    chart: str,
) -> ReportTable:
    """The experts' hours summed per domain or city, with a chart of each group's utilisation."""
    return ReportTable(
        key=f"utilisation_by_{key}",
        title=title,
        columns=_columns((key, label), *_GROUP_COLUMNS),
        rows=_group_totals(rows, key, key),
        chart=ReportChart(
            label_key=key, value_key="utilisation", title=chart, scale=1.0, percent=True
        ),
    )


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _months(period: Period) -> int:
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def _district_names(session: Session) -> dict[int, tuple[str, str]]:
    rows = session.exec(
        select(District.id, District.name, City.name).join(City, col(City.id) == District.city_id)
    ).all()
    return {
        district_id: (city, name) for district_id, name, city in rows if district_id is not None
    }


class UtilisationRow(TypedDict):
    """One expert's line of the utilisation section."""

    expert_id: str
    expert_name: str
    domain: str
    city: str
    capacity_hours: float
    booked_hours: float
    completed_hours: float
    utilisation: float | None
    completed_utilisation: float | None


def _group_totals(
    experts: Iterable[UtilisationRow], key: Literal["domain", "city"], label: str
) -> list[dict[str, object]]:
    groups: dict[str, dict[str, float]] = defaultdict(
        lambda: {"experts": 0, "capacity_hours": 0.0, "booked_hours": 0.0, "completed_hours": 0.0}
    )
    for row in experts:
        group = groups[row[key]]
        group["experts"] += 1
        group["capacity_hours"] += row["capacity_hours"]
        group["booked_hours"] += row["booked_hours"]
        group["completed_hours"] += row["completed_hours"]
    return [
        {
            label: name,
            "experts": int(g["experts"]),
            "capacity_hours": round(g["capacity_hours"], 2),
            "booked_hours": round(g["booked_hours"], 2),
            "completed_hours": round(g["completed_hours"], 2),
            "utilisation": ratio(g["booked_hours"], g["capacity_hours"]),
        }
        for name, g in sorted(groups.items())
    ]


def expert_utilisation(
    session: Session, period: Period | None, districts: frozenset[int] | None = None
) -> ReportSection:
    """Booked and completed session hours against each expert's monthly capacity (of the
    experts working in `districts`, when given)."""
    note = ""
    if period is None:
        # Capacity is monthly: an unbounded period has none, so the current month is shown.
        period = month_of(today())
        note = f"未选择统计区间，按本月（{period.label}）统计。"
    months = _months(period)
    profiles = {
        p.expert_id: p.monthly_limit_hours for p in session.exec(select(AvailabilityProfile)).all()
    }
    booked: dict[str, float] = defaultdict(float)
    completed: dict[str, float] = defaultdict(float)
    sessions = session.exec(
        select(Booking.expert_id, Booking.status, Booking.start_at, Booking.end_at).where(
            Booking.start_at >= period.start_at,
            Booking.start_at < period.end_at,
            col(Booking.status).in_(BOOKED_STATUSES),
        )
    ).all()
    for expert_id, status, start, end in sessions:
        booked[expert_id] += _hours(start, end)
        if status == BookingStatus.completed.value:
            completed[expert_id] += _hours(start, end)
    places = _district_names(session)
    rows: list[UtilisationRow] = []
    experts = select(Expert).order_by(col(Expert.id))
    if districts is not None:
        experts = experts.where(col(Expert.district_id).in_(sorted(districts)))
    for expert in session.exec(experts).all():
        limit = profiles.get(expert.id)
        monthly = expert.monthly_capacity_hours if limit is None else limit
        capacity = monthly * months if expert.status == ExpertStatus.active.value else 0.0
        if capacity <= 0 and expert.id not in booked:
            continue
        rows.append(
            UtilisationRow(
                expert_id=expert.id,
                expert_name=expert.name,
                domain=messages.DOMAIN_LABELS.get(expert.domain, expert.domain),
                city=places.get(expert.district_id, ("", ""))[0],
                capacity_hours=round(float(capacity), 2),
                booked_hours=round(booked.get(expert.id, 0.0), 2),
                completed_hours=round(completed.get(expert.id, 0.0), 2),
                utilisation=ratio(booked.get(expert.id, 0.0), capacity),
                completed_utilisation=ratio(completed.get(expert.id, 0.0), capacity),
            )
        )
    capacity_total = sum(r["capacity_hours"] for r in rows)
    booked_total = sum(r["booked_hours"] for r in rows)
    completed_total = sum(r["completed_hours"] for r in rows)
    return ReportSection(
        key=UTILISATION_KEY,
        title="专家工作量与利用率",
        available=True,
        note=note + "已预约 = 待确认、已确认、已完成与未出席的场次（按开始时间计入区间）；"
        "可用小时 = 每月可服务小时（预约设置中的月上限优先）× 区间月数。",
        data={
            "period_key": period.key,
            "months": months,
            "experts": len(rows),
            "capacity_hours": round(capacity_total, 2),
            "booked_hours": round(booked_total, 2),
            "completed_hours": round(completed_total, 2),
            "utilisation": ratio(booked_total, capacity_total),
            "completed_utilisation": ratio(completed_total, capacity_total),
            "over_capacity": sum(1 for r in rows if r["booked_hours"] > r["capacity_hours"]),
        },
        data_labels={
            "experts": "专家数",
            "capacity_hours": "可用小时",
            "booked_hours": "已预约小时",
            "completed_hours": "已完成小时",
            "utilisation": "预约利用率",
            "completed_utilisation": "完成利用率",
            "over_capacity": "超出月容量的专家",
        },
        tables=[
            _utilisation_by(rows, "domain", "领域", title="按领域汇总", chart="各领域利用率"),
            _utilisation_by(rows, "city", "市", title="按城市汇总", chart="各市利用率"),
            ReportTable(
                key="utilisation_by_expert",
                title="各专家明细",
                columns=_columns(
                    ("expert_id", "专家编号"),
                    ("expert_name", "姓名"),
                    ("domain", "领域"),
                    ("city", "市"),
                    ("capacity_hours", "可用小时"),
                    ("booked_hours", "已预约小时"),
                    ("completed_hours", "已完成小时"),
                    ("utilisation", "预约利用率"),
                    ("completed_utilisation", "完成利用率"),
                ),
                rows=[dict(r) for r in rows],
            ),
        ],
    )


def sessions_and_ratings(
    session: Session, period: Period | None, districts: frozenset[int] | None = None
) -> ReportSection:
    """Sessions per district by kind and status, and the ratings districts gave them (of
    `districts`, when given)."""
    query = select(Booking.id, Booking.district_id, Booking.kind, Booking.status)
    if districts is not None:
        query = query.where(col(Booking.district_id).in_(sorted(districts)))
    if period is not None:
        query = query.where(Booking.start_at >= period.start_at, Booking.start_at < period.end_at)
    sessions = session.exec(query).all()
    in_period = {booking_id for booking_id, *_ in sessions}
    statuses = [s.value for s in BookingStatus]
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(statuses, 0))
    completed: dict[int, int] = defaultdict(int)
    for _, district_id, kind, status in sessions:
        counts[(district_id, kind)][status] += 1
        if status == BookingStatus.completed.value:
            completed[district_id] += 1
    scores: dict[int, list[int]] = defaultdict(list)
    for booking_id, district_id, score in session.exec(
        select(BookingRating.booking_id, BookingRating.district_id, BookingRating.score)
    ).all():
        if booking_id in in_period:
            scores[district_id].append(score)
    places = _district_names(session)
    kind_order = {k.value: i for i, k in enumerate(BookingKind)}
    count_rows = []
    for (district_id, kind), by_status in sorted(
        counts.items(), key=lambda item: (item[0][0], kind_order.get(item[0][1], 99))
    ):
        city, name = places.get(district_id, ("", str(district_id)))
        count_rows.append(
            {
                "city": city,
                "district": name,
                "kind": messages.BOOKING_KIND_LABELS.get(kind, kind),
                **by_status,
                "total": sum(by_status.values()),
            }
        )
    rating_rows = []
    for district_id in sorted(set(completed) | set(scores)):
        city, name = places.get(district_id, ("", str(district_id)))
        rating_rows.append(
            {
                "city": city,
                "district": name,
                "label": f"{city} {name}",
                "completed": completed.get(district_id, 0),
                "ratings": len(scores.get(district_id, [])),
                "mean_score": mean_or_none(scores.get(district_id, [])),
            }
        )
    all_scores = [s for values in scores.values() for s in values]
    return ReportSection(
        key=SESSIONS_KEY,
        title="服务场次与评价",
        available=True,
        note="按场次开始时间计入区间；评价为区县对该区间内场次的评分（1–5 分）。",
        data={
            "sessions": len(sessions),
            "completed": sum(completed.values()),
            "ratings": len(all_scores),
            "mean_score": mean_or_none(all_scores),
        },
        data_labels={
            "sessions": "场次",
            "completed": "已完成",
            "ratings": "评价数",
            "mean_score": "平均评分",
        },
        tables=[
            ReportTable(
                key="sessions_by_district",
                title="各区县场次（按类别与状态）",
                columns=_columns(
                    ("city", "市"),
                    ("district", "区县"),
                    ("kind", "类别"),
                    *((s, messages.BOOKING_STATUS_LABELS.get(s, s)) for s in statuses),
                    ("total", "合计"),
                ),
                rows=count_rows,
            ),
            ReportTable(
                key="ratings_by_district",
                title="各区县评价",
                columns=_columns(
                    ("city", "市"),
                    ("district", "区县"),
                    ("completed", "已完成场次"),
                    ("ratings", "评价数"),
                    ("mean_score", "平均评分"),
                ),
                rows=rating_rows,
                chart=ReportChart(
                    label_key="label",
                    value_key="mean_score",
                    title="各区县平均评分（满分 5）",
                    scale=5.0,
                ),
            ),
        ],
    )


def register_report_sections() -> None:
    """Plug booking's sections into the report (idempotent)."""
    register_section(UTILISATION_KEY, "专家工作量与利用率", expert_utilisation)
    register_section(SESSIONS_KEY, "服务场次与评价", sessions_and_ratings)
