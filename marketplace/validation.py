"""Readable Chinese descriptions of pydantic validation errors (shared by API and CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import annotated_types

_TEMPLATES = {
    "missing": "缺少必填字段",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_too_short": "不能为空",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "必须大于 {gt}",
    "less_than": "必须小于 {lt}",
    "int_parsing": "必须是整数",
    "int_type": "必须是整数",
    "int_from_float": "必须是整数",
    "string_type": "必须是文本",
    "list_type": "必须是列表",
    "bool_type": "必须是 true 或 false",
    "bool_parsing": "必须是 true 或 false",
    "dict_type": "必须是对象",
    "model_type": "必须是对象",
    "model_attributes_type": "必须是对象",
    "enum": "取值必须是 {expected} 之一",
    "literal_error": "取值必须是 {expected} 之一",
    "string_pattern_mismatch": "格式不正确",
    "extra_forbidden": "不允许的字段",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式应为 ISO 8601（例如 2027-03-01T09:00:00+08:00）",
    "datetime_from_date_parsing": "时间格式应为 ISO 8601（例如 2027-03-01T09:00:00+08:00）",
    "json_invalid": "不是有效的 JSON",
    "float_parsing": "必须是数字",
    "float_type": "必须是数字",
    "decimal_parsing": "必须是数字",
    "decimal_type": "必须是数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "time_parsing": "时间格式应为 HH:MM",
}


def describe_error(error: dict[str, Any]) -> str:
    """One error as `字段 a.b：原因`."""
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    template = _TEMPLATES.get(kind)
    if template is not None:
        try:
            reason = template.format(**context)
        except (KeyError, IndexError):
            reason = template
    elif kind == "value_error":
        reason = str(context.get("error", error.get("msg", "")))
    else:
        reason = str(error.get("msg", kind))
    return f"字段 {location}：{reason}" if location else reason


def describe_errors(errors: Sequence[dict[str, Any]]) -> str:
    return "；".join(describe_error(e) for e in errors)


# A database record id in a path, query or body: 1 … 2**31-1 (PostgreSQL's integer), so an
# out-of-range number is refused as invalid input instead of failing inside the database.
MAX_RECORD_ID = 2**31 - 1
RecordId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_RECORD_ID)]
