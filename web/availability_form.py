"""The weekly-availability editor's form: rows of plain fields <-> booking's AvailabilityUpdate.

Rows travel as parallel lists (w_day/w_start/w_end, o_date/o_ranges/o_note, x_start/x_end/x_note)
so the page works without JavaScript; a row left empty is dropped. Every row keeps its own error,
shown next to it. The rules themselves (ordering, limits, time zones) live in booking.schedule.models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from booking.schedule.models import (
    AvailabilityPublic,
    AvailabilityUpdate,
    DateOverrideIn,
    WeeklyRuleIn,
)
from marketplace import messages
from marketplace.clock import zone
from marketplace.validation import describe_error, parse_day

WEEKDAY_LABELS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MIN_ROWS_PER_DAY = 2
MAX_ROWS = 100
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–—~至到]\s*(\d{1,2}:\d{2})\s*$")
_RANGE_SEPARATORS = re.compile(r"[,，;；、\s]+(?=\d)")
POLICY_FIELDS = (
    "buffer_before_minutes",
    "buffer_after_minutes",
    "min_notice_hours",
    "horizon_days",
    "slot_step_minutes",
    "daily_limit_hours",
    "monthly_limit_hours",
)


@dataclass
class Row:
    values: dict[str, str]
    error: str = ""


@dataclass
class AvailabilityForm:
    weekly: list[Row] = field(default_factory=list)
    overrides: list[Row] = field(default_factory=list)
    away: list[Row] = field(default_factory=list)
    policy: dict[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    errors: dict[str, str] = field(default_factory=dict)

    def weekly_by_day(self) -> list[tuple[int, str, list[Row]]]:
        """(weekday, label, rows) with blank rows added so each day can take one more range."""
        days = []
        for day, label in enumerate(WEEKDAY_LABELS):
            rows = [r for r in self.weekly if r.values.get("day") == str(day)]
            blanks = max(MIN_ROWS_PER_DAY - len(rows), 1 if rows else MIN_ROWS_PER_DAY)
            rows += [Row({"day": str(day), "start": "", "end": ""}) for _ in range(blanks)]
            days.append((day, label, rows))
        return days

    def with_blank_rows(self) -> AvailabilityForm:
        self.overrides.append(Row({"date": "", "ranges": "", "note": ""}))
        self.away.append(Row({"start": "", "end": "", "note": ""}))
        return self

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(
            r.error for r in (*self.weekly, *self.overrides, *self.away)
        )


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def form_from_availability(current: AvailabilityPublic) -> AvailabilityForm:
    """The editor's rows for the stored availability."""
    form = AvailabilityForm(timezone=current.timezone)
    form.weekly = [
        Row({"day": str(r.weekday), "start": r.start, "end": r.end}) for r in current.weekly
    ]
    for exception in current.exceptions:
        if isinstance(exception, DateOverrideIn):
            ranges = "，".join(f"{r.start}-{r.end}" for r in exception.ranges)
            form.overrides.append(
                Row({"date": exception.date.isoformat(), "ranges": ranges, "note": exception.note})
            )
        else:
            # Days away are whole days where the expert is.
            start = exception.start.astimezone(zone(current.timezone))
            end = exception.end.astimezone(zone(current.timezone))
            last = (end - timedelta(days=1)).date() if end.time() == time(0) else end.date()
            form.away.append(
                Row(
                    {
                        "start": start.date().isoformat(),
                        "end": max(last, start.date()).isoformat(),
                        "note": exception.note,
                    }
                )
            )
    form.policy = {
        "buffer_before_minutes": str(current.buffer_before_minutes),
        "buffer_after_minutes": str(current.buffer_after_minutes),
        "min_notice_hours": _number(current.min_notice_minutes / 60),
        "horizon_days": str(current.horizon_days),
        "slot_step_minutes": str(current.slot_step_minutes),
        "daily_limit_hours": _number(current.daily_limit_hours),
        "monthly_limit_hours": _number(current.monthly_limit_hours),
    }
    return form


def _rows(fields: dict[str, list[str]], names: tuple[str, ...], limit: int = MAX_ROWS) -> list[Row]:
    columns = [fields.get(n, []) for n in names]
    count = min(max((len(c) for c in columns), default=0), limit)
    rows = []
    for i in range(count):
        values = {
            n.split("_", 1)[1]: (c[i] if i < len(c) else "").strip()[:200]
            for n, c in zip(names, columns, strict=True)
        }
        rows.append(Row(values))
    return rows


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return describe_error({**error, "loc": ()})


def _day(text: str) -> date | None:
    return parse_day(text)


def _parse_ranges(text: str) -> list[dict[str, str]] | None:
    parts = [p for p in _RANGE_SEPARATORS.split(text.strip()) if p.strip()]
    ranges = []
    for part in parts:
        match = _RANGE.match(part)
        if match is None:
            return None
        ranges.append({"start": match.group(1).zfill(5), "end": match.group(2).zfill(5)})
    return ranges


def _policy_value(name: str, text: str, errors: dict[str, str]) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = messages.NUMBER_REQUIRED
        return None
    if name in (
        "buffer_before_minutes",
        "buffer_after_minutes",
        "horizon_days",
        "slot_step_minutes",
    ):
        if not value.is_integer():
            errors[name] = messages.WHOLE_NUMBER_REQUIRED
            return None
        return int(value)
    if name == "min_notice_hours":
        return round(value * 60)
    return value


def parse_form(fields: dict[str, list[str]]) -> tuple[AvailabilityForm, AvailabilityUpdate | None]:
    """The submitted rows, each with its error, and the update when every row is valid."""
    form = AvailabilityForm(
        weekly=_rows(fields, ("w_day", "w_start", "w_end")),
        overrides=_rows(fields, ("o_date", "o_ranges", "o_note")),
        away=_rows(fields, ("x_start", "x_end", "x_note")),
        policy={n: (fields.get(n) or [""])[0].strip()[:16] for n in POLICY_FIELDS},
        timezone=((fields.get("timezone") or [""])[0].strip()[:64] or "Asia/Shanghai"),
    )
    weekly = []
    for row in form.weekly:
        if not (row.values["start"] or row.values["end"]):
            continue
        try:
            rule = WeeklyRuleIn.model_validate(
                {
                    "weekday": row.values["day"],
                    "start": row.values["start"],
                    "end": row.values["end"],
                }
            )
        except ValidationError as exc:
            row.error = _first_error(exc)
            continue
        weekly.append(rule.model_dump())
    exceptions: list[dict[str, Any]] = []
    for row in form.overrides:
        if not any(row.values.values()):
            continue
        day = _day(row.values["date"])
        ranges = _parse_ranges(row.values["ranges"])
        if day is None:
            row.error = messages.DATE_INVALID
        elif ranges is None:
            row.error = messages.RANGES_INVALID
        else:
            try:
                override = DateOverrideIn.model_validate(
                    {"date": day, "ranges": ranges, "note": row.values["note"]}
                )
            except ValidationError as exc:
                row.error = _first_error(exc)
                continue
            exceptions.append(override.model_dump())
    for row in form.away:
        if not any(row.values.values()):
            continue
        first, last = _day(row.values["start"]), _day(row.values["end"] or row.values["start"])
        if first is None or last is None:
            row.error = messages.DATE_INVALID
        elif last < first:
            row.error = messages.TIME_RANGE_ORDER
        else:
            exceptions.append(
                {
                    "kind": "out_of_office",
                    "start": datetime.combine(first, time(0), zone(form.timezone)),
                    "end": datetime.combine(last + timedelta(days=1), time(0), zone(form.timezone)),
                    "note": row.values["note"],
                }
            )
    policy: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        value = _policy_value(name, form.policy.get(name, ""), form.errors)
        if value is not None or name in ("daily_limit_hours", "monthly_limit_hours"):
            policy["min_notice_minutes" if name == "min_notice_hours" else name] = value
    if form.has_errors:
        return form, None
    try:
        update = AvailabilityUpdate.model_validate(
            {"timezone": form.timezone, "weekly": weekly, "exceptions": exceptions, **policy}
        )
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc", ())
            name = str(loc[0]) if loc else "__all__"
            if name == "min_notice_minutes":
                name = "min_notice_hours"
            if name not in POLICY_FIELDS:
                name = "__all__"
            form.errors.setdefault(name, describe_error({**error, "loc": ()}))
        return form, None
    return form, update
