"""Field types the booking API schemas share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pydantic

from booking.availability import parse_clock
from marketplace.validation import check_date_in_range


def _clock(value: str) -> str:
    parse_clock(value)
    return value


def _aware(value: datetime) -> datetime:
    check_date_in_range(value)  # before any comparison: year 1 minus an offset overflows
    if value.utcoffset() is None:
        raise ValueError("时间必须带时区偏移，例如 2027-03-01T09:00:00+08:00")
    return value


Clock = Annotated[str, pydantic.AfterValidator(_clock)]

AwareDatetime = Annotated[datetime, pydantic.AfterValidator(_aware)]
