"""The allocation report as CSV (UTF-8 with BOM so Excel shows Chinese) and as Excel."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.styles import Font

from marketplace import messages
from marketplace.reports.cells import append_row, csv_text, put, safe_text
from marketplace.reports.models import AllocationReport, ReportTable

ROW_HEADERS = [
    ("service_name", "服务"),
    ("kind", "类别"),
    ("unit", "单位"),
    ("city", "市"),
    ("district_name", "区县"),
    ("students", "在校学生数"),
    ("allocated", "分配"),
    ("released", "退回"),
    ("net_allocated", "净分配"),
    ("used", "已使用"),
    ("expired", "过期"),
    ("net_allocated_per_10k", "每万名学生净分配"),
    ("used_per_10k", "每万名学生使用"),
]
EQUITY_HEADERS = [
    ("service_name", "服务"),
    ("unit", "单位"),
    ("bought", "采购数量"),
    ("net_allocated", "净分配"),
    ("used", "已使用"),
    ("utilisation", "使用率"),
    ("districts_eligible", "适用区县数"),
    ("districts_reached", "获得分配区县数"),
    ("gini", "基尼系数（按学生数加权）"),
]


def _cells(row: object, headers: list[tuple[str, str]]) -> list[object]:
    values = []
    for key, _ in headers:
        value = getattr(row, key)
        if key == "kind":
            value = messages.SERVICE_KIND_LABELS.get(value, value)
        values.append("" if value is None else value)
    return values


def find_table(report: AllocationReport, key: str) -> ReportTable | None:
    """The section table with this key, if a section provides it."""
    for section in report.sections:
        for table in section.tables:
            if table.key == key:
                return table
    return None


def table_keys(report: AllocationReport) -> list[str]:
    return [table.key for section in report.sections for table in section.tables]


def _table_cells(table: ReportTable, row: dict) -> list[object]:
    return ["" if row.get(c.key) is None else row.get(c.key) for c in table.columns]


def to_csv(report: AllocationReport, table: ReportTable | None = None) -> str:
    """One row per district and service, or the rows of one section table (cells made safe)."""
    if table is not None:
        return csv_text(
            [[c.label for c in table.columns], *(_table_cells(table, r) for r in table.rows)]
        )
    return csv_text(
        [[label for _, label in ROW_HEADERS], *(_cells(row, ROW_HEADERS) for row in report.rows)]
    )


_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _add_table_sheet(book: Workbook, table: ReportTable) -> None:
    title = safe_text(table.title).translate(_SHEET_FORBIDDEN).lstrip("'")[:31] or table.key[:31]
    if title in book.sheetnames:
        title = table.key[:31]
    sheet = book.create_sheet(title)
    append_row(sheet, [table.title])
    sheet["A1"].font = Font(bold=True, size=12)
    append_row(sheet, [c.label for c in table.columns])
    for record in table.rows:
        append_row(sheet, _table_cells(table, record))
    for index, column in enumerate(table.columns, start=1):
        if column.percent:
            for (cell,) in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "0.0%"


def to_xlsx(report: AllocationReport) -> bytes:
    """Sheets: 分配明细 (rows), 公平性 (per service), 洛伦兹曲线 (points and charts), 说明.

    Every cell goes through append_row/put: no user text becomes a formula or breaks the file.
    """
    book = Workbook()
    detail = book.active
    detail.title = "分配明细"
    append_row(detail, [f"资源分配报表：{report.period_label}"])
    detail["A1"].font = Font(bold=True, size=14)
    append_row(detail, [label for _, label in ROW_HEADERS])
    for row in report.rows:
        append_row(detail, _cells(row, ROW_HEADERS))

    fairness = book.create_sheet("公平性")
    append_row(fairness, [label for _, label in EQUITY_HEADERS])
    for service in report.services:
        append_row(fairness, _cells(service, EQUITY_HEADERS))

    curves = book.create_sheet("洛伦兹曲线")
    column = 1
    for index, service in enumerate(report.services):
        put(curves, row=1, column=column, value=service.service_name)
        put(curves, row=2, column=column, value="人口累计占比")
        put(curves, row=2, column=column + 1, value="数量累计占比")
        for offset, (x, y) in enumerate(service.lorenz, start=3):
            put(curves, row=offset, column=column, value=x)
            put(curves, row=offset, column=column + 1, value=y)
        last = 2 + len(service.lorenz)
        chart = ScatterChart()
        chart.title = f"{safe_text(service.service_name)}（基尼系数 {service.gini:.2f}）"
        chart.x_axis.title = "区县学生累计占比"
        chart.y_axis.title = "分配累计占比"
        xs = Reference(curves, min_col=column, min_row=3, max_row=last)
        ys = Reference(curves, min_col=column + 1, min_row=3, max_row=last)
        chart.series.append(Series(ys, xs, title="洛伦兹曲线"))
        chart_anchor = curves.cell(
            row=2 + index * 16, column=len(report.services) * 3 + 2
        ).coordinate
        curves.add_chart(chart, chart_anchor)
        column += 3

    for section in report.sections:
        for table in section.tables:
            _add_table_sheet(book, table)

    notes = book.create_sheet("说明")
    append_row(notes, ["统计区间", report.period_label])
    append_row(notes, ["生成时间", report.generated_at.isoformat()])
    append_row(
        notes,
        [
            "口径",
            "净分配 = 分配 − 退回；每万名学生数字按区县在校学生数计算；基尼系数按学生数加权。",
        ],
    )
    for section in report.sections:
        append_row(
            notes,
            [
                section.title,
                section.note if section.note else ("已提供" if section.available else ""),
            ],
        )
        if isinstance(section.data, dict):
            for key, value in section.data.items():
                append_row(notes, ["", key, value])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
