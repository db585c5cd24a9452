"""Report section owned by matching: how fast district requests were matched and scheduled.

A request's clock starts when it was submitted (its creation time, or the audited move out of
draft) and stops at the first audited move to "matched" or the confirmation of a batch run that
assigned it (whichever is earlier), and at the first move to "scheduled". Plugs into
`marketplace.reports` through `register_section` (marketplace never imports matching).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from marketplace.audit.models import AuditEntry
from marketplace.districts.models import City, District
from marketplace.reports.models import ReportChart, ReportColumn, ReportSection, ReportTable
from marketplace.reports.periods import Period
from marketplace.reports.service import register_section
from marketplace.reports.stats import median_p90
from marketplace.requests.models import DistrictRequest, RequestStatus
from matching.models import MatchPair, MatchRun, PairStatus

RESPONSE_KEY = "request_response"


@dataclass
class _Timeline:
    district_id: int
    submitted_at: datetime | None = None
    matched_at: datetime | None = None
    scheduled_at: datetime | None = None
    withdrawn: bool = False


def _earliest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


def _timelines(session: Session, period: Period | None) -> dict[int, _Timeline]:
    query = select(DistrictRequest)
    if period is not None:
        query = query.where(DistrictRequest.created_at < period.end_at)
    requests = {r.id: r for r in session.exec(query).all() if r.id is not None}
    transitions: dict[int, list[AuditEntry]] = defaultdict(list)
    for entry in session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "district_request", AuditEntry.action == "request.status")
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
    ).all():
        if entry.entity_id.isdigit() and int(entry.entity_id) in requests:
            transitions[int(entry.entity_id)].append(entry)
    confirmed = session.exec(
        select(MatchPair.request_id, MatchRun.confirmed_at)
        .join(MatchRun, col(MatchRun.id) == MatchPair.run_id)
        .where(MatchPair.status == PairStatus.confirmed.value)
    ).all()
    timelines: dict[int, _Timeline] = {}
    for request_id, request in requests.items():
        steps = transitions.get(request_id, [])
        first_status = (steps[0].before or {}).get("status") if steps else request.status
        line = _Timeline(district_id=request.district_id)
        if first_status != RequestStatus.draft.value:
            line.submitted_at = request.created_at
        for step in steps:
            status = (step.after or {}).get("status")
            if status == RequestStatus.submitted.value and line.submitted_at is None:
                line.submitted_at = step.at
            elif status == RequestStatus.matched.value:
                line.matched_at = _earliest(line.matched_at, step.at)
            elif status == RequestStatus.scheduled.value:
                line.scheduled_at = _earliest(line.scheduled_at, step.at)
        line.withdrawn = request.status == RequestStatus.withdrawn.value
        timelines[request_id] = line
    for request_id, confirmed_at in confirmed:
        if request_id in timelines:
            line = timelines[request_id]
            line.matched_at = _earliest(line.matched_at, confirmed_at)
    return {
        rid: line
        for rid, line in timelines.items()
        if line.submitted_at is not None
        and (period is None or period.start_at <= line.submitted_at < period.end_at)
    }


def _figures(lines: list[_Timeline]) -> dict[str, object]:
    to_match = [
        h for line in lines if (h := _hours(line.submitted_at, line.matched_at)) is not None
    ]
    to_schedule = [
        h for line in lines if (h := _hours(line.submitted_at, line.scheduled_at)) is not None
    ]
    match_median, match_p90 = median_p90(to_match)
    schedule_median, schedule_p90 = median_p90(to_schedule)
    return {
        "submitted": len(lines),
        "matched": len(to_match),
        "scheduled": len(to_schedule),
        "waiting": sum(
            1
            for line in lines
            if line.matched_at is None and line.scheduled_at is None and not line.withdrawn
        ),
        "withdrawn": sum(1 for line in lines if line.withdrawn),
        "median_hours_to_match": match_median,
        "p90_hours_to_match": match_p90,
        "median_hours_to_schedule": schedule_median,
        "p90_hours_to_schedule": schedule_p90,
    }


def request_response(
    session: Session, period: Period | None, districts: frozenset[int] | None = None
) -> ReportSection:
    """Median and 90th percentile of hours from submission to match and to schedule, per district."""
    timelines = _timelines(session, period)
    if districts is not None:
        timelines = {k: v for k, v in timelines.items() if v.district_id in districts}
    by_district: dict[int, list[_Timeline]] = defaultdict(list)
    for line in timelines.values():
        by_district[line.district_id].append(line)
    names = {
        district_id: (city, name)
        for district_id, name, city in session.exec(
            select(District.id, District.name, City.name).join(
                City, col(City.id) == District.city_id
            )
        ).all()
    }
    rows = []
    for district_id in sorted(by_district):
        city, name = names.get(district_id, ("", str(district_id)))
        rows.append(
            {
                "city": city,
                "district": name,
                "label": f"{city} {name}",
                **_figures(by_district[district_id]),
            }
        )
    return ReportSection(
        key=RESPONSE_KEY,
        title="区县需求响应时间",
        available=True,
        note="从需求提交起计时，到首次匹配成功（确认匹配方案或状态变为已匹配）和状态变为已排期；"
        "单位为小时；统计区间内提交的需求。",
        data=_figures(list(timelines.values())),
        data_labels={
            "submitted": "提交需求",
            "matched": "已匹配",
            "scheduled": "已排期",
            "waiting": "等待中",
            "median_hours_to_match": "匹配用时中位数（小时）",
            "p90_hours_to_match": "匹配用时 P90（小时）",
            "median_hours_to_schedule": "排期用时中位数（小时）",
            "p90_hours_to_schedule": "排期用时 P90（小时）",
        },
        tables=[
            ReportTable(
                key="response_by_district",
                title="各区县响应时间（小时）",
                columns=[
                    ReportColumn(key=k, label=label)
                    for k, label in (
                        ("city", "市"),
                        ("district", "区县"),
                        ("submitted", "提交需求"),
                        ("matched", "已匹配"),
                        ("scheduled", "已排期"),
                        ("waiting", "等待中"),
                        ("withdrawn", "已撤回"),
                        ("median_hours_to_match", "匹配用时中位数"),
                        ("p90_hours_to_match", "匹配用时 P90"),
                        ("median_hours_to_schedule", "排期用时中位数"),
                        ("p90_hours_to_schedule", "排期用时 P90"),
                    )
                ],
                rows=rows,
                chart=ReportChart(
                    label_key="label",
                    value_key="median_hours_to_match",
                    title="各区县匹配用时中位数（小时）",
                ),
            )
        ],
    )


def register_report_sections() -> None:
    """Plug matching's section into the report (idempotent)."""
    register_section(RESPONSE_KEY, "区县需求响应时间", request_response)
