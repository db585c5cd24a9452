"""Time zones are named in Chinese wherever a time is shown (pages, mail, notices): the hub's own
names for the zones it lists, the CLDR's city names for any other, the offset for zones without a
city. The stored value stays the IANA name, and people may type a zone by its city's Chinese name."""

from __future__ import annotations

import re

import pytest

from marketplace.accounts.contact import normalise_timezone
from marketplace.clock import in_zone, known_zones, zone_label, zone_named


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("Asia/Shanghai", "北京时间"),
        ("", "北京时间"),
        ("Europe/London", "伦敦时间"),
        ("Europe/Rome", "罗马时间"),
        ("America/Sao_Paulo", "圣保罗时间"),
        ("Etc/GMT+5", "UTC−5 时间"),  # Etc/GMT+5 is five hours *behind* UTC
        ("Asia/Kolkata" if "Asia/Kolkata" in known_zones() else "Asia/Calcutta", "加尔各答时间"),
    ],
)
def test_a_zone_is_named_in_chinese(stored, shown):
    assert zone_label(stored) == shown


def test_no_zone_this_machine_knows_is_named_by_its_iana_name():
    latin = {key: zone_label(key) for key in known_zones() if re.search(r"[a-z]", zone_label(key))}
    assert latin == {}


def test_a_time_in_another_zone_carries_its_chinese_name():
    from datetime import UTC, datetime

    moment = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert in_zone(moment, "Europe/London", "%H:%M", named=True) == "09:00（伦敦时间）"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("罗马", "Europe/Rome"),
        ("罗马时间", "Europe/Rome"),
        (" 伦敦 ", "Europe/London"),
        ("北京时间", "Asia/Shanghai"),
        ("Europe/Paris", "Europe/Paris"),
    ],
)
def test_a_zone_is_typed_by_its_iana_name_or_its_citys_chinese_name(typed, stored):
    assert zone_named(typed) == stored
    assert normalise_timezone(typed) == stored


@pytest.mark.parametrize("typed", ["火星", "europe/paris", "", "时间", "Mars/Olympus"])
def test_anything_else_is_refused_in_chinese(typed):
    assert zone_named(typed) is None
    with pytest.raises(ValueError, match="城市的中文名"):
        normalise_timezone(typed)
