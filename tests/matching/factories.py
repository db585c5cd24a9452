"""Plain factories for the pure matching tests."""

from __future__ import annotations

from matching.scoring import ExpertProfile, Need, Place

XIAN_BEILIN = Place("陕西省", "西安市", "碑林区", "城六区片区")
XIAN_YANTA = Place("陕西省", "西安市", "雁塔区", "城六区片区")
XIAN_HUYI = Place("陕西省", "西安市", "鄠邑区", None)
SHANGLUO = Place("陕西省", "商洛市", "商州区", None)


def expert(expert_id: str = "E1", **overrides: object) -> ExpertProfile:
    values: dict = {
        "id": expert_id,
        "place": XIAN_BEILIN,
        "specialties": ("心理危机干预",),
        "service_types": frozenset({"supervision", "training", "crisis_support"}),
        "formats": frozenset({"online", "onsite"}),
        "capacity_hours": 20,
        "years_experience": 10,
    }
    values.update(overrides)
    return ExpertProfile(**values)


def need(need_id: str = "R1", **overrides: object) -> Need:
    values: dict = {
        "id": need_id,
        "text": "学生自伤，需要危机干预",
        "place": XIAN_BEILIN,
        "service_type": "crisis_support",
        "format": "onsite",
        "hours": 4,
        "experts_needed": 1,
    }
    values.update(overrides)
    return Need(**values)
