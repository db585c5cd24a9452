"""Nearness of an expert's city for an on-site visit (marketplace.districts.proximity)."""

from __future__ import annotations

import pytest

from marketplace.districts.proximity import OTHER_CITY_MAX, distance_km, onsite_nearness


def test_the_schools_own_city_is_nearest_then_cities_by_distance():
    assert onsite_nearness("咸阳市", "咸阳市") == 1.0
    near = {c: onsite_nearness("咸阳市", c) for c in ("西安市", "宝鸡市", "延安市", "榆林市")}
    assert OTHER_CITY_MAX >= near["西安市"] > near["宝鸡市"] > near["延安市"] > near["榆林市"]
    assert near["榆林市"] == 0.0  # a day's travel: as far as any


def test_distances_between_city_centres_are_the_maps():
    assert distance_km("西安市", "咸阳市") == pytest.approx(21, abs=5)
    assert distance_km("西安市", "榆林市") == pytest.approx(445, abs=20)
    assert distance_km("西安市", "西安市") == 0.0


def test_a_city_without_a_known_centre_or_no_city_is_not_near():
    assert distance_km("西安市", "成都市") is None
    assert onsite_nearness("西安市", "成都市") == 0.0
    assert onsite_nearness("西安市", None) == 0.0
    assert onsite_nearness("成都市", "成都市") == 1.0
