"""The report section of the resource library: views and downloads per district and the most
used resources. Registered with marketplace.reports where the app is assembled."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, col, func, select

from marketplace.districts.models import City, District
from marketplace.reports.models import ReportChart, ReportColumn, ReportSection, ReportTable
from marketplace.reports.periods import Period
from marketplace.reports.service import register_section
from marketplace.resources.models import Resource, ResourceUse, UseAction

LIBRARY_KEY = "library_use"
TITLE = "资料库使用情况"
TOP = 20


def library_use(
    session: Session, period: Period | None, districts: frozenset[int] | None = None
) -> ReportSection:
    """Views and downloads of published material by district coordinators in the period."""
    query = select(
        ResourceUse.district_id, ResourceUse.lineage_id, ResourceUse.action, func.count()
    ).group_by(col(ResourceUse.district_id), col(ResourceUse.lineage_id), col(ResourceUse.action))
    if districts is not None:
        query = query.where(col(ResourceUse.district_id).in_(sorted(districts)))
    if period is not None:
        query = query.where(ResourceUse.at >= period.start_at, ResourceUse.at < period.end_at)
    rows = session.exec(query).all()
    by_district: dict[int | None, Counter] = {}
    by_lineage: dict[int, Counter] = {}
    for district_id, lineage_id, action, count in rows:
        by_district.setdefault(district_id, Counter())[action] += count
        by_lineage.setdefault(lineage_id, Counter())[action] += count
    places = {
        d.id: (c.name, d.name)
        for d, c in session.exec(
            select(District, City).join(City, col(City.id) == District.city_id)
        ).all()
    }
    view, download = UseAction.view.value, UseAction.download.value
    district_rows = []
    for district_id, counts in sorted(by_district.items(), key=lambda kv: -kv[1][download]):
        city, name = places.get(district_id, ("", "")) if district_id else ("", "")
        district_rows.append(
            {
                "city": city,
                "district": name,
                "label": f"{city} {name}".strip(),
                "views": counts[view],
                "downloads": counts[download],
            }
        )
    titles = dict(
        session.exec(
            select(Resource.lineage_id, Resource.title).where(
                col(Resource.lineage_id).in_(list(by_lineage))
            )
        ).all()
    )
    resource_rows = [
        {"title": titles.get(lineage_id, ""), "views": c[view], "downloads": c[download]}
        for lineage_id, c in sorted(
            by_lineage.items(), key=lambda kv: (-kv[1][download], -kv[1][view])
        )[:TOP]
    ]
    return ReportSection(
        key=LIBRARY_KEY,
        title=TITLE,
        available=True,
        note="区县协调员打开资料详情计为浏览，下载文件计为下载；工作人员和作者本人的使用不计入。",
        data={
            "views": sum(c[view] for c in by_district.values()),
            "downloads": sum(c[download] for c in by_district.values()),
            "resources_used": len(by_lineage),
        },
        data_labels={"views": "浏览", "downloads": "下载", "resources_used": "被使用的资料"},
        tables=[
            ReportTable(
                key="library_use_by_district",
                title="各区县资料浏览与下载",
                columns=[
                    ReportColumn(key="city", label="市"),
                    ReportColumn(key="district", label="区县"),
                    ReportColumn(key="views", label="浏览"),
                    ReportColumn(key="downloads", label="下载"),
                ],
                rows=district_rows,
                chart=ReportChart(label_key="label", value_key="downloads", title="下载次数"),
            ),
            ReportTable(
                key="library_top_resources",
                title="使用最多的资料",
                columns=[
                    ReportColumn(key="title", label="资料"),
                    ReportColumn(key="views", label="浏览"),
                    ReportColumn(key="downloads", label="下载"),
                ],
                rows=resource_rows,
            ),
        ],
    )


def register_report_sections() -> None:
    """Plug the library's section into the report (idempotent)."""
    register_section(LIBRARY_KEY, TITLE, library_use)
