"""The expert-pool console's files: an uploaded JSONL or CSV file as import lines, and the
filtered pool as CSV or Excel (cells neutralised by marketplace.reports.cells).

A CSV file has one header row naming the import format's fields, in English (`id`, `name`,
`province`, ...) or as the Chinese headers of the pool export, so an exported list can be
edited in a spreadsheet and imported again; list cells hold items separated by 、，; or new
lines, and choice cells take the code or its Chinese label (心理 or psychology).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.styles import Font

from marketplace import messages
from marketplace.errors import InvalidInput
from marketplace.experts.models import ExpertPublic
from marketplace.reports.cells import append_row, csv_text

IMPORT_MAX_BYTES = 5 * 1024 * 1024  # about 3,000 experts; larger files go through `heart import`
# Lines (CSV rows) a page upload may hold: 5 MB of one-character lines was a million rows,
# validated one by one for 88 s in a web worker and listed back as a million errors.
IMPORT_MAX_LINES = 10_000
IMPORT_SUFFIXES = (".jsonl", ".json", ".csv")
_LIST_SEPARATORS = re.compile(r"[\n\r,，、;；]+")

# (field, Chinese header): the pool export's columns; the first 16 are the import format's.
COLUMNS: list[tuple[str, str]] = [
    ("id", "编号"),
    ("name", "姓名"),
    ("domain", "领域"),
    ("title", "职称"),
    ("organization", "工作单位"),
    ("province", "省"),
    ("city", "市"),
    ("district", "区县"),
    ("specialties", "专长"),
    ("bio", "简介"),
    ("certifications", "资质证书"),
    ("formats", "服务方式"),
    ("service_types", "服务类型"),
    ("languages", "服务语言"),
    ("years_experience", "从业年限"),
    ("monthly_capacity_hours", "每月可服务小时"),
    ("status", "状态"),
    ("verified", "认证"),
    ("updated_at", "更新时间"),
]
EXPORT_ONLY = {"status", "verified", "updated_at"}
_HEADER_FIELDS = {label: name for name, label in COLUMNS} | {name: name for name, _ in COLUMNS}
LIST_FIELDS = {"specialties", "certifications", "formats", "service_types", "languages"}
_CHOICE_CODES = {
    "domain": {v: k for k, v in messages.DOMAIN_LABELS.items()},
    "formats": {v: k for k, v in messages.FORMAT_LABELS.items()},
    "service_types": {v: k for k, v in messages.SERVICE_TYPE_LABELS.items()},
}


_FIELD_IN_REASON = re.compile(r"字段 ([a-z_]+)((?:\.[a-z0-9_]+)*)：")


def with_field_labels(reason: str) -> str:
    """An import error's reason with the Chinese header beside each field name it cites
    (`字段 years_experience（从业年限）：不能小于 0`): CSV files carry the Chinese headers."""
    labels = dict(COLUMNS)

    def label(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(2)
        field = rest.lstrip(".").split(".")[0] if name == "region" and rest else name
        text = labels.get(field)
        return f"字段 {name}{rest}（{text}）：" if text else match.group(0)

    return _FIELD_IN_REASON.sub(label, reason)


def upload_lines(data: bytes, filename: str) -> list[str]:
    """The import lines of an uploaded file (JSONL as it is, CSV converted line by line);
    InvalidInput (field `file`) for an empty, too large, binary or unknown file."""
    name = filename.lower().strip()
    if not data:
        raise InvalidInput(messages.POOL_IMPORT_EMPTY, code="file_empty", field="file")
    if len(data) > IMPORT_MAX_BYTES:
        raise InvalidInput(
            messages.POOL_IMPORT_TOO_LARGE.format(mb=IMPORT_MAX_BYTES // (1024 * 1024)),
            code="file_too_large",
            field="file",
        )
    if not name.endswith(IMPORT_SUFFIXES):
        raise InvalidInput(messages.POOL_IMPORT_TYPE, code="file_type", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(messages.POOL_IMPORT_NOT_TEXT, code="file_type", field="file") from None
    if "\x00" in text:
        raise InvalidInput(messages.POOL_IMPORT_NOT_TEXT, code="file_type", field="file")
    lines = csv_lines(text) if name.endswith(".csv") else text.splitlines()
    if len(lines) > IMPORT_MAX_LINES + 1:  # the CSV header (or a JSONL trailing line) spare
        raise InvalidInput(
            messages.POOL_IMPORT_TOO_MANY_LINES.format(lines=IMPORT_MAX_LINES),
            code="file_too_large",
            field="file",
        )
    return lines


def csv_lines(text: str) -> list[str]:
    """Each CSV record as one import line (JSON), numbered as the file's rows: the header row
    becomes an empty line, which the import skips."""
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > IMPORT_MAX_LINES + 1:
                break  # upload_lines refuses the file; no need to read the rest
    except csv.Error as exc:  # a field past the csv module's limit, a stray quote at the end
        raise InvalidInput(
            messages.POOL_IMPORT_CSV_BROKEN.format(row=reader.line_num, reason=_csv_reason(exc)),
            code="csv_format",
            field="file",
        ) from None
    if not rows:
        raise InvalidInput(messages.POOL_IMPORT_EMPTY, code="file_empty", field="file")
    header = [cell.strip().lstrip("'") for cell in rows[0]]
    unknown = [h for h in header if h and h not in _HEADER_FIELDS]
    if unknown:
        raise InvalidInput(
            messages.POOL_IMPORT_CSV_HEADER.format(columns="、".join(unknown[:5])),
            code="csv_header",
            field="file",
        )
    fields = [_HEADER_FIELDS.get(h) for h in header]
    missing = [n for n, _ in COLUMNS if n not in EXPORT_ONLY and n not in fields]
    required_missing = [n for n in missing if n in ("id", "name", "domain", "organization")]
    if required_missing or not {"province", "city", "district"} <= set(fields):
        labels = dict(COLUMNS)
        absent = [labels[n] for n in missing]
        raise InvalidInput(
            messages.POOL_IMPORT_CSV_MISSING.format(columns="、".join(absent[:6])),
            code="csv_header",
            field="file",
        )
    lines = [""]
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            lines.append("")
            continue
        lines.append(json.dumps(_record(fields, row), ensure_ascii=False))
    return lines


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return "某个单元格过长"
    return "无法解析"


def _record(fields: list[str | None], row: list[str]) -> dict[str, object]:
    record: dict[str, object] = {}
    region: dict[str, str] = {}
    for name, raw in zip(fields, row, strict=False):
        if name is None or name in EXPORT_ONLY:
            continue
        cell = raw.strip()
        if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@"):
            cell = cell[1:]  # undo the export's formula guard
        if name in ("province", "city", "district"):
            region[name] = cell
        elif name in LIST_FIELDS:
            codes = _CHOICE_CODES.get(name, {})
            values = [codes.get(p.strip(), p.strip()) for p in _LIST_SEPARATORS.split(cell)]
            record[name] = [v for v in values if v]
        elif name in ("years_experience", "monthly_capacity_hours"):
            # isascii: "²" and "١٥" are digits to str.isdigit, and int("²") raises.
            record[name] = int(cell) if cell.isascii() and cell.isdigit() else cell
        elif name == "domain":
            record[name] = _CHOICE_CODES["domain"].get(cell, cell)
        elif cell or name not in ("title", "bio"):
            record[name] = cell
    record["region"] = region
    return record


def _cells(expert: ExpertPublic) -> list[object]:
    values: list[object] = []
    for name, _ in COLUMNS:
        if name in ("province", "city", "district"):
            values.append(getattr(expert.region, name))
        elif name == "domain":
            values.append(messages.DOMAIN_LABELS.get(expert.domain, expert.domain))
        elif name in ("formats", "service_types"):
            labels = messages.FORMAT_LABELS if name == "formats" else messages.SERVICE_TYPE_LABELS
            values.append("、".join(labels.get(v, v) for v in getattr(expert, name)))
        elif name in LIST_FIELDS:
            values.append("、".join(getattr(expert, name)))
        elif name == "status":
            values.append(messages.STATUS_LABELS.get(expert.status, expert.status))
        elif name == "verified":
            values.append("已认证" if expert.verified else "未认证")
        elif name == "updated_at":
            values.append(expert.updated_at.strftime("%Y-%m-%d %H:%M"))
        else:
            values.append(getattr(expert, name))
    return values


def pool_csv(experts: Iterable[ExpertPublic]) -> str:
    """The pool as CSV (Chinese headers, UTF-8 with BOM, every cell made safe)."""
    return csv_text([[label for _, label in COLUMNS], *(_cells(e) for e in experts)])


def pool_xlsx(experts: Iterable[ExpertPublic], *, title: str) -> bytes:
    """The pool as an Excel workbook: a title row, the headers, one row per expert."""
    book = Workbook()
    sheet = book.active
    sheet.title = "专家库"
    append_row(sheet, [title])
    sheet["A1"].font = Font(bold=True, size=12)
    append_row(sheet, [label for _, label in COLUMNS])
    for expert in experts:
        append_row(sheet, _cells(expert))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
