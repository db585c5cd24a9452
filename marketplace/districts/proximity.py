"""How near an expert's city is to a school's, for on-site work (pure, reads the regions file).

One rule for every place that prefers nearby experts for an on-site visit: the school's own
city is nearest (1.0: no trip between cities); another city counts at most OTHER_CITY_MAX,
less with the straight-line distance between the cities' centres (regions.json ``centre``),
0 from ONSITE_REACH_KM on; a city without a known centre counts 0.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from marketplace.districts.service import DEFAULT_REGIONS_FILE

# Beyond this a visit is a day's travel (西安 → 榆林 is ~440 km; 西安 → 咸阳 ~20 km, → 渭南
# ~55 km, → 宝鸡 ~155 km): such cities are as far as any for an on-site request.
ONSITE_REACH_KM = 300.0
OTHER_CITY_MAX = 0.5
EARTH_RADIUS_KM = 6371.0


@cache
def city_centres(path: Path = DEFAULT_REGIONS_FILE) -> dict[str, tuple[float, float]]:
    """City name → (latitude, longitude) of its centre, from a regions file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        c["name"]: (float(c["centre"][0]), float(c["centre"][1]))
        for c in data.get("cities", [])
        if c.get("centre")
    }


def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two cities' centres; None when one is unknown."""
    if a == b:
        return 0.0
    centres = city_centres()
    if a not in centres or b not in centres:
        return None
    (lat1, lon1), (lat2, lon2) = centres[a], centres[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def onsite_nearness(school_city: str, expert_city: str | None) -> float:
    """1.0 for the school's own city; another city at most OTHER_CITY_MAX, less with distance
    (0 from ONSITE_REACH_KM on, or when a city's centre is unknown)."""
    if not expert_city:
        return 0.0
    if expert_city == school_city:
        return 1.0
    km = distance_km(school_city, expert_city)
    return 0.0 if km is None else OTHER_CITY_MAX * max(0.0, 1.0 - km / ONSITE_REACH_KM)
