"""Input validation shared by API, pages and CLI: Chinese descriptions of pydantic errors, and
the checks against hostile input every input schema runs (InputModel)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Self, TypeVar

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

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
    "enum": "请选择其中之一：{expected}",
    "literal_error": "请选择其中之一：{expected}",
    "string_pattern_mismatch": "格式不正确",
    "extra_forbidden": "没有这个字段，请检查拼写（可用的字段见 API 文档 /docs）",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式应为 ISO 8601（例如 2027-03-01T09:00:00+08:00）",
    "datetime_from_date_parsing": "时间格式应为 ISO 8601（例如 2027-03-01T09:00:00+08:00）",
    "json_invalid": "不是有效的 JSON",
    "float_parsing": "必须是数字",
    "float_type": "必须是数字",
    "finite_number": "必须是有限的数字（不能是 NaN 或 Infinity）",
    "decimal_parsing": "必须是数字",
    "decimal_type": "必须是数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "time_parsing": "时间格式应为 HH:MM",
}


def _choice_labels() -> dict[str, str]:
    """Every closed vocabulary's Chinese labels (first one wins where two share a value)."""
    from marketplace import messages

    merged: dict[str, str] = {}
    for labels in (
        messages.BOOKING_KIND_LABELS,
        messages.SERVICE_TYPE_LABELS,
        messages.FORMAT_LABELS,
        messages.DOMAIN_LABELS,
        messages.URGENCY_LABELS,
        messages.ROLE_LABELS,
        messages.STATUS_LABELS,
        messages.SERVICE_KIND_LABELS,
        messages.BOOKING_STATUS_LABELS,
        messages.REQUEST_STATUS_LABELS,
        messages.APPLICATION_STATUS_LABELS,
        messages.RESOURCE_KIND_LABELS,
        messages.RESOURCE_AUDIENCE_LABELS,
        messages.RESOURCE_ACCESS_LABELS,
        messages.DAY_PART_LABELS,
        messages.TIME_REQUEST_STATUS_LABELS,
    ):
        for value, label in labels.items():
            merged.setdefault(value, label)
    return merged


_QUOTED = re.compile(r"'([^']*)'")


def choices_in_chinese(expected: str) -> str:
    """pydantic's `'online' or 'onsite'` as 线上、到校/线下 (a value without a label stays)."""
    # Quoted strings ('online' or 'onsite'), else bare numbers (15, 30 or 60).
    values = _QUOTED.findall(expected) or re.split(r",\s*|\s+or\s+", expected)
    labels = _choice_labels()
    return "、".join(labels.get(v, v) for v in values)


def describe_error(error: Mapping[str, Any]) -> str:
    """One error as `字段 a.b：原因`."""
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind in ("enum", "literal_error") and "expected" in context:
        context = {**context, "expected": choices_in_chinese(str(context["expected"]))}
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # A length limit on a text with a validator of its own (NameText) comes back as the
        # generic length error: it counts characters, not items.
        kind = f"string_{kind}"
    template = _TEMPLATES.get(kind)
    typed = str(error.get("input") or "").strip()
    if kind == "string_too_short" and int(context.get("min_length", 1)) > 1 and typed:
        template = "至少 {min_length} 个字符"  # "x" for a title is too short; nothing is empty
    if template is not None:
        try:
            reason = template.format(**context)
        except (KeyError, IndexError):
            reason = template
    elif kind == "value_error":
        reason = str(context.get("error", error.get("msg", "")))
    else:
        reason = str(error.get("msg", kind))
        if reason.isascii():  # pydantic's own English for a type not listed above
            reason = "取值不符合要求"
    return f"字段 {location}：{reason}" if location else reason


def cross_field_error(message: str, *fields: str) -> PydanticCustomError:
    """A model-level error that is about several fields at once (end before start): forms mark
    each of `fields` with `message` (the error's context names them)."""
    return PydanticCustomError("cross_field", message, {"fields": ",".join(fields)})


def error_fields(error: dict[str, Any]) -> list[str]:
    """The form fields an error is about: its location, or the fields a cross-field error names."""
    named = (error.get("ctx") or {}).get("fields")
    if named:
        return [f for f in str(named).split(",") if f]
    loc = [str(part) for part in error.get("loc", ()) if part != "body"]
    return loc[:1]


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    return "；".join(describe_error(e) for e in errors)


# A database record id in a path, query or body: 1 … 2**31-1 (PostgreSQL's integer), so an
# out-of-range number is refused as invalid input instead of failing inside the database.
MAX_RECORD_ID = 2**31 - 1
RecordId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_RECORD_ID)]


# --- hostile input: one set of checks every input schema runs (InputModel) ------------------
# Dates a school mental-health service can mean. Beyond them date arithmetic overflows (year 1
# minus a time-zone offset, year 9999 plus a day) and PostgreSQL and Python disagree on range.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2100, 12, 31)
# C0 control characters except tab, line feed and carriage return, DEL and the C1 controls:
# NUL fails on PostgreSQL, and the rest break exports, logs and terminals while meaning nothing
# in a form. Bidi embedding, override and isolate characters (U+202A–U+202E, U+2066–U+2069)
# reorder the text shown around them ("Trojan source"): a name or title could display as
# something other than what is stored, so they are refused as well (the hub's text is Chinese
# and needs no explicit direction marks).
_Day = TypeVar("_Day", bound=date)  # a date or a datetime (a date subclass), returned as given
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_RANGE_MESSAGE = f"日期须在 {EARLIEST_DATE.isoformat()} 至 {LATEST_DATE.isoformat()} 之间"
_CONTROL_MESSAGE = "含有不允许的控制字符"
_BIDI_MESSAGE = "含有改变文字显示方向的控制字符（可能使显示的内容与实际不符），请删除后再提交"


# The error types of InputModel's model-wide checks; their context names the field and reason.
HOSTILE_INPUT_ERRORS = frozenset({"control_character", "date_out_of_range"})


def control_character_reason(value: str) -> str | None:
    """Why `value` is refused (Chinese), or None when it holds no control character."""
    if _BIDI.search(value):
        return _BIDI_MESSAGE
    if _CONTROL.search(value):
        return _CONTROL_MESSAGE
    return None


def check_date_in_range(value: _Day) -> _Day:
    """`value` itself, or ValueError (Chinese) when it lies outside 1970–2100."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(_RANGE_MESSAGE)
    return value


def check_text(value: str) -> str:
    """`value` itself, or ValueError (Chinese) when it holds a control character."""
    reason = control_character_reason(value)
    if reason:
        raise ValueError(reason)
    return value


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def strip_control_characters(value: str) -> str:
    return _CONTROL.sub("", value)


def _sane_date(value: date) -> date:
    check_date_in_range(value)
    return value


def _sane_datetime(value: datetime) -> datetime:
    check_date_in_range(value)
    return value


# Invisible characters (zero-width space and joiners, direction marks, word joiner, BOM, soft
# hyphen) in a name: "黎洋馥" and "黎\u200b洋馥" are two experts to the database and one to the
# eye, so an impostor could sit beside the real one in a list or a booking.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_INVISIBLE_MESSAGE = "含有看不见的字符（如零宽空格），会与其他名称混淆，请删除后再提交"


def check_name(value: str) -> str:
    """`value` itself, or ValueError (Chinese) when it holds an invisible character."""
    if _INVISIBLE.search(value):
        raise ValueError(_INVISIBLE_MESSAGE)
    return value


# For query parameters and fields whose later validators do date arithmetic (the model-wide
# check of InputModel runs after those).
SaneDate = Annotated[date, AfterValidator(_sane_date)]
SaneDatetime = Annotated[datetime, AfterValidator(_sane_datetime)]
CleanText = Annotated[str, AfterValidator(check_text)]
# A name people tell records apart by (an expert, an account, a service, a resource title).
NameText = Annotated[str, AfterValidator(check_name)]


def _walk(value: Any, path: str) -> Any:
    """Check one parsed value; returns it with duplicate choices removed from lists."""
    if isinstance(value, str):
        reason = control_character_reason(value)
        if reason:
            raise PydanticCustomError(
                "control_character", "字段 {field}：{reason}", {"field": path, "reason": reason}
            )
        return value
    if isinstance(value, date):  # datetime too
        if (
            not EARLIEST_DATE
            <= (value.date() if isinstance(value, datetime) else value)
            <= LATEST_DATE
        ):
            raise PydanticCustomError(
                "date_out_of_range",
                "字段 {field}：{reason}",
                {"field": path, "reason": _RANGE_MESSAGE},
            )
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = [_walk(item, f"{path}.{i}") for i, item in enumerate(value)]
        if items and all(isinstance(i, str | int | Enum) for i in items):
            items = list(dict.fromkeys(items))  # duplicate choices count once
        return type(value)(items) if not isinstance(value, list) else items
    if isinstance(value, dict):
        return {k: _walk(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, BaseModel) and not isinstance(value, InputModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), f"{path}.{name}")
    return value


class InputModel(BaseModel):
    """Base of every schema that carries user input (API bodies, forms, imports, CLI).

    After the fields are parsed: text with control characters is refused, dates outside
    1970–2100 are refused (422 with a Chinese message), and a choice listed twice counts once.
    A field the schema does not have is refused too (422 naming it): a misspelt field in a
    PATCH would otherwise be dropped silently and the request reported as a success.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _refuse_hostile_input(self) -> Self:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, InputModel):
                continue  # checked by its own validator
            cleaned = _walk(value, name)
            if cleaned is not value:
                object.__setattr__(self, name, cleaned)
        return self


def parse_day(text: str) -> date | None:
    """An ISO date typed into a page (YYYY-MM-DD) within 1970–2100; None otherwise."""
    try:
        return check_date_in_range(date.fromisoformat(text.strip()))
    except ValueError:
        return None


def parse_moment(text: str) -> datetime | None:
    """An ISO date-time typed into a page or link within 1970–2100; None otherwise."""
    try:
        return check_date_in_range(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None
