"""Spreadsheet-safe cells for every CSV and Excel export (OWASP "CSV injection").

Text from users (names, titles, units) ends up in files staff open in Excel or WPS. A text cell
that begins with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a formula (or
DDE call), so it gets a leading single quote; control characters, which break openpyxl and
mean nothing in a report, are removed; Excel cells holding text are typed as strings, never
formulas. Numbers, dates and booleans pass through unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# C0 controls except tab, line feed and carriage return (kept in text, neutralised when
# leading), plus DEL: none of them belong in a report, and openpyxl refuses most of them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Value = str | int | float | Decimal | bool | date | datetime | None


def safe_text(text: str) -> str:
    """`text` without control characters, quoted when a spreadsheet would run it."""
    cleaned = _CONTROL.sub("", text)
    if cleaned.startswith(FORMULA_TRIGGERS):
        return "'" + cleaned
    return cleaned


def safe_value(value: object) -> Value:
    """A cell value: numbers, dates and booleans as they are, anything else as safe text."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal | date | datetime):
        return value
    return safe_text(str(value))


def csv_text(rows: Iterable[Sequence[object]], *, bom: bool = True) -> str:
    """CSV of `rows` with every cell made safe (UTF-8 BOM first so Excel shows Chinese)."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([safe_value(v) for v in row])
    return out.getvalue()


def _as_string(cell: Cell) -> None:
    if isinstance(cell.value, str):
        cell.data_type = "s"


def append_row(sheet: Worksheet, values: Sequence[object]) -> None:
    """Append one row of safe cells; text cells are strings, never formulas."""
    sheet.append([safe_value(v) for v in values])
    for cell in sheet[sheet.max_row]:
        _as_string(cell)


def put(sheet: Worksheet, *, row: int, column: int, value: object) -> Cell:
    """Write one safe cell at (row, column)."""
    cell = sheet.cell(row=row, column=column, value=safe_value(value))
    _as_string(cell)
    return cell
