"""Report periods: a month ("2027-03") or a school term ("2027-spring", "2026-autumn").

Terms follow the Chinese school year: the autumn term runs from 1 September to the end of
January, the spring term from 1 February to the end of August.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from marketplace.clock import LOCAL_TZ

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_TERM = re.compile(r"^(\d{4})-(spring|autumn)$")
TERM_LABELS = {"spring": "春季学期", "autumn": "秋季学期"}


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    start: date  # inclusive, local date
    end: date  # exclusive, local date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=LOCAL_TZ)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(0), tzinfo=LOCAL_TZ)


# Reports cover the service's years; 9999-12 would overflow the next month's date.
FIRST_YEAR = 2000
LAST_YEAR = 2100


def _next_month(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def parse_period(text: str) -> Period:
    """A Period from "YYYY-MM", "YYYY-spring" or "YYYY-autumn"; ValueError otherwise."""
    text = text.strip()
    if match := _MONTH.match(text):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(text)
        return Period(text, f"{year} 年 {month} 月", date(year, month, 1), _next_month(year, month))
    if match := _TERM.match(text):
        year, term = int(match[1]), match[2]
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(text)
        if term == "spring":
            return Period(text, f"{year} 年{TERM_LABELS[term]}", date(year, 2, 1), date(year, 9, 1))
        return Period(text, f"{year} 年{TERM_LABELS[term]}", date(year, 9, 1), date(year + 1, 2, 1))
    raise ValueError(text)


def month_of(day: date) -> Period:
    return parse_period(f"{day.year:04d}-{day.month:02d}")


def term_of(day: date) -> Period:
    """The school term `day` falls in (autumn runs September to January)."""
    if 2 <= day.month <= 8:
        return parse_period(f"{day.year:04d}-spring")
    year = day.year if day.month >= 9 else day.year - 1
    return parse_period(f"{year:04d}-autumn")


def recent_periods(day: date, *, months: int = 12, terms: int = 4) -> list[Period]:
    """The picker's choices: the last `months` months and `terms` school terms up to `day`."""
    choices = []
    year, month = day.year, day.month
    for _ in range(months):
        choices.append(parse_period(f"{year:04d}-{month:02d}"))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    term = term_of(day)
    for _ in range(terms):
        choices.append(term)
        term = term_of(term.start - timedelta(days=1))
    return choices
