"""Time helpers: the hub stores aware UTC datetimes and shows each viewer their own time zone
(Asia/Shanghai unless they chose another)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marketplace import messages

DEFAULT_ZONE = "Asia/Shanghai"
LOCAL_TZ = ZoneInfo(DEFAULT_ZONE)


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA zone names this machine's tz database knows."""
    return frozenset(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    """The ZoneInfo of an IANA name; Beijing time for an empty or unknown one."""
    if not name or name not in known_zones():
        return LOCAL_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return LOCAL_TZ


def zone_label(name: str | None) -> str:
    """How a zone is named next to a time: 北京时间, or 伦敦时间 / Europe/London."""
    key = zone(name).key
    if key == DEFAULT_ZONE:
        return messages.ZONE_BEIJING
    city = messages.ZONE_CITY_NAMES.get(key)
    if city:
        return messages.ZONE_NAMED.format(city=city, zone=key)
    return messages.ZONE_OTHER.format(zone=key)


def in_zone(
    value: datetime | None, name: str | None, fmt: str = "%Y-%m-%d %H:%M", *, named: bool = False
) -> str:
    """An aware datetime as the clock reads in zone `name`, with the zone named if `named`."""
    if value is None:
        return ""
    text = value.astimezone(zone(name)).strftime(fmt)
    return f"{text}（{zone_label(name)}）" if named else text
