"""Time helpers: the hub stores aware UTC datetimes and shows each viewer their own time zone
(Asia/Shanghai unless they chose another)."""

from __future__ import annotations

import re
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
    """How pages, mail and exports name a zone next to a time, in Chinese only: 北京时间, 伦敦时间,
    罗马时间; a zone without a city (Etc/GMT+5, UTC) by its offset: UTC−5 时间. The stored value
    stays the IANA name."""
    key = zone(name).key
    if key == DEFAULT_ZONE:
        return messages.ZONE_BEIJING
    city = zone_city(key)
    if city:
        return messages.ZONE_CITY_ONLY.format(city=city)
    return messages.ZONE_OFFSET.format(offset=_offset(key))


@lru_cache(maxsize=1024)
def zone_city(key: str) -> str:
    """The Chinese name of a zone's city (Europe/Rome -> 罗马): the hub's own names first, then
    the CLDR's (babel); empty when the zone has no city with a Chinese name."""
    if key in messages.ZONE_CITY_NAMES:
        return messages.ZONE_CITY_NAMES[key]
    if key.startswith("Etc/") or "/" not in key:
        return ""  # UTC, Etc/GMT+5, EST: no city (CLDR would call Etc/GMT+5 "GMT+5", sign flipped)
    from babel.dates import get_timezone_location

    try:
        city = get_timezone_location(key, locale="zh_CN", return_city=True)
    except (LookupError, ValueError):
        return ""
    # CLDR falls back to the zone id's last part (Knox) where it has no Chinese name.
    return "" if re.search(r"[A-Za-z]", city) else city


def _offset(key: str) -> str:
    """A zone's offset from UTC now, as people write it: +8, −5, +5:30 (0 for UTC itself)."""
    delta = utcnow().astimezone(ZoneInfo(key)).utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    if minutes == 0:
        return ""
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")


@lru_cache(maxsize=1)
def _zones_by_city() -> dict[str, str]:
    """The IANA name of each Chinese city name zone_label uses (罗马 -> Europe/Rome)."""
    found: dict[str, str] = {}
    for key in sorted(known_zones()):
        city = zone_city(key)
        if city and city not in found:
            found[city] = key
    found.update({city: key for key, city in messages.ZONE_CITY_NAMES.items()})
    found[messages.ZONE_BEIJING.removesuffix("时间")] = DEFAULT_ZONE
    return found


def zone_named(text: str) -> str | None:
    """The IANA zone a person typed: its IANA name (Europe/Rome), or its city's Chinese name as
    pages show it (罗马, 罗马时间, 北京时间); None when neither."""
    text = text.strip()
    if text in known_zones():
        return text
    city = text.removesuffix("时间").strip()
    return _zones_by_city().get(city) if city else None


def in_zone(
    value: datetime | None, name: str | None, fmt: str = "%Y-%m-%d %H:%M", *, named: bool = False
) -> str:
    """An aware datetime as the clock reads in zone `name`, with the zone named if `named`."""
    if value is None:
        return ""
    text = value.astimezone(zone(name)).strftime(fmt)
    return f"{text}（{zone_label(name)}）" if named else text
