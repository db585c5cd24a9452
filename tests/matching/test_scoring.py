import numpy as np
import pytest

from matching.scoring import (
    DEFAULT_WEIGHTS,
    expert_arrays,
    explain,
    feasible_mask,
    region_level,
    related_specialties,
    rule_violations,
    score_row,
    specialty_fit_rows,
)
from tests.matching.factories import SHANGLUO, XIAN_HUYI, XIAN_YANTA, expert, need


def test_a_feasible_pair_explains_itself_in_chinese_with_specialty_region_and_remaining_hours():
    result = explain(
        need(), expert(booked_hours=14), relevance=0.8, specialty_weights={"心理危机干预": 0.9}
    )
    assert result.feasible
    assert result.summary == "擅长：心理危机干预 · 同区县可到校 · 本月剩余 6 小时"


def test_onsite_service_from_another_city_breaks_the_same_city_rule():
    reasons = rule_violations(need(), expert(place=SHANGLUO))
    assert reasons == ["到校服务须由同市专家承担（专家在商洛市）"]


def test_online_service_ignores_distance():
    near = explain(need(format="online"), expert(), relevance=0.5)
    far = explain(need(format="online"), expert(place=SHANGLUO), relevance=0.5)
    assert near.feasible and far.feasible
    assert near.score == far.score
    assert "线上服务不受距离限制" in far.reasons


def test_onsite_region_prefers_same_district_then_zone_then_city():
    scores = [
        explain(need(), expert(place=p), relevance=0.5).parts["region"]
        for p in (need().place, XIAN_YANTA, XIAN_HUYI)
    ]
    assert scores[0] > scores[1] > scores[2]
    assert [region_level(need(), expert(place=p)) for p in (XIAN_YANTA, XIAN_HUYI, SHANGLUO)] == [
        "zone",
        "city",
        "province",
    ]


def test_a_city_group_member_paired_with_the_zone_counts_as_the_zones_in_both_scorings():
    paired = frozenset({("西安市", "城六区片区")})
    pool = [
        expert("E1", place=XIAN_HUYI),
        expert("E2", place=XIAN_HUYI, zones=paired),
        expert("E3", place=SHANGLUO, zones=paired),  # paired, but onsite needs the same city
        expert("E4", place=XIAN_YANTA),
    ]
    n = need()
    explained = [explain(n, e, relevance=0.5) for e in pool]
    assert [region_level(n, e) for e in pool] == ["city", "zone", "province", "zone"]
    assert explained[1].parts["region"] == explained[3].parts["region"]
    assert explained[1].score > explained[0].score
    assert explained[1].reasons[1:3] == ["城六区片区专家组成员", "同市可到校"]
    assert not explained[2].feasible
    assert not any("专家组成员" in r for e in (0, 3) for r in explained[e].reasons)
    arrays = expert_arrays(pool)
    mask, _ = feasible_mask(n, arrays)
    row = score_row(
        n, arrays, relevance=np.full(4, 0.5), specialty_fit=np.zeros(4), mask=np.ones(4, bool)
    )
    explained = [explain(n, e, relevance=0.5, specialty_weights={}) for e in pool]
    feasible = [0, 1, 3]
    assert list(mask) == [True, True, False, True]
    assert np.allclose(row[feasible], [explained[i].score for i in feasible], atol=1e-4)
    # A request from a district of another zone gains nothing from the pairing.
    elsewhere = need(place=XIAN_HUYI)
    assert (
        explain(elsewhere, pool[1], relevance=0.5).score
        == explain(elsewhere, pool[0], relevance=0.5).score
    )


def test_every_hard_rule_is_named_when_broken():
    reasons = rule_violations(
        need(excluded=frozenset({"E1"}), hours=30),
        expert(service_types=frozenset({"training"}), formats=frozenset({"online"}), active=False),
    )
    assert reasons == [
        "专家当前不在岗",
        "不提供危机支持服务",
        "不提供到校/线下服务",
        "在本申请的回避名单中",
        "本月剩余 20 小时，不足所需 30 小时",
    ]


def test_seniority_requirement_raises_the_senior_expert_and_says_so():
    senior = explain(need(min_years=15), expert(years_experience=20), relevance=0.5)
    junior = explain(need(min_years=15), expert(years_experience=5), relevance=0.5)
    assert senior.score > junior.score
    assert "从业 20 年（要求 ≥ 15 年）" in senior.reasons
    assert "从业 5 年，低于要求的 15 年" in junior.reasons


def test_continuity_with_the_district_adds_affinity_and_a_reason():
    returning = explain(
        need(), expert(served_districts=frozenset({("西安市", "碑林区")})), relevance=0.5
    )
    new = explain(need(), expert(), relevance=0.5)
    assert returning.score > new.score
    assert "已在本区县服务过" in returning.reasons


def test_vectorised_scores_equal_the_single_pair_explanation():
    pool = [
        expert("E1"),
        expert("E2", place=XIAN_YANTA, specialties=("学业压力",), booked_hours=5),
        expert(
            "E3",
            place=XIAN_HUYI,
            years_experience=3,
            served_districts=frozenset({("西安市", "碑林区")}),
        ),
        expert("E4", place=SHANGLUO),
    ]
    n = need(min_years=8)
    weights = {"心理危机干预": 0.7, "学业压力": 0.2}
    relevance = np.array([0.9, 0.4, 0.6, 1.0])
    arrays = expert_arrays(pool)
    mask, screen = feasible_mask(n, arrays)
    fit = specialty_fit_rows([weights], arrays)[0]
    row = score_row(n, arrays, relevance=relevance, specialty_fit=fit, mask=mask)
    expected = [
        explain(n, e, relevance=r, specialty_weights=weights) for e, r in zip(pool, relevance)
    ]
    assert list(mask) == [x.feasible for x in expected] == [True, True, True, False]
    assert np.allclose(row[:3], [x.score for x in expected[:3]], atol=1e-4)
    assert np.isneginf(row[3])
    assert (screen.service, screen.city, screen.not_booked) == (4, 3, 3)


def test_specialties_held_together_far_above_chance_are_related():
    holdings = [("甲", "乙")] * 6 + [("丙",)] * 6 + [("甲", "丙")] * 2 + [("乙",)] * 2
    related = related_specialties(holdings)
    assert related == {"甲": frozenset({"乙"}), "乙": frozenset({"甲"})}


def test_an_expert_holding_a_related_specialty_outranks_one_holding_nothing_close():
    related = {"心理危机干预": frozenset({"自杀风险评估"})}
    need_weights = {"心理危机干预": 1.0}
    close = explain(
        need(),
        expert(specialties=("自杀风险评估",)),
        relevance=0.0,
        specialty_weights=need_weights,
        related=related,
    )
    unrelated = explain(
        need(),
        expert(specialties=("家庭教育指导",)),
        relevance=0.0,
        specialty_weights=need_weights,
        related=related,
    )
    holder = explain(
        need(), expert(), relevance=0.0, specialty_weights=need_weights, related=related
    )
    assert holder.score > close.score > unrelated.score
    assert close.parts["specialty"] == DEFAULT_WEIGHTS.related_gain


def test_a_likelier_specialist_across_the_city_outranks_a_less_likely_one_next_door():
    need_weights = {"心理危机干预": 0.55, "家庭教育指导": 0.45}
    likelier = explain(
        need(),
        expert(place=XIAN_HUYI, booked_hours=16),
        relevance=0.0,
        specialty_weights=need_weights,
    )
    next_door = explain(
        need(),
        expert(specialties=("家庭教育指导",), served_districts=frozenset({("西安市", "碑林区")})),
        relevance=0.0,
        specialty_weights=need_weights,
    )
    assert likelier.score > next_door.score


def test_seniority_weighs_more_when_the_request_asks_for_it():
    senior = explain(need(min_years=15), expert(years_experience=15), relevance=0.5)
    junior = explain(need(min_years=15), expert(years_experience=5), relevance=0.5)
    assert senior.score - junior.score == pytest.approx(
        DEFAULT_WEIGHTS.seniority_asked * (1 - 5 / 15), abs=1e-3
    )
    unasked = [explain(need(), expert(years_experience=y), relevance=0.5).score for y in (15, 5)]
    assert unasked[0] == unasked[1]


def test_vectorised_scores_with_related_specialties_equal_the_single_pair_explanation():
    related = {"心理危机干预": frozenset({"学业压力"})}
    pool = [
        expert("E1"),
        expert("E2", specialties=("学业压力",)),
        expert("E3", specialties=("家庭教育指导",)),
    ]
    n = need()
    weights = {"心理危机干预": 0.8, "家庭教育指导": 0.2}
    relevance = np.array([0.2, 0.9, 0.5])
    arrays = expert_arrays(pool, related=related)
    mask, _ = feasible_mask(n, arrays)
    row = score_row(
        n,
        arrays,
        relevance=relevance,
        specialty_fit=specialty_fit_rows([weights], arrays)[0],
        mask=mask,
    )
    expected = [
        explain(n, e, relevance=r, specialty_weights=weights, related=related)
        for e, r in zip(pool, relevance)
    ]
    assert np.allclose(row, [x.score for x in expected], atol=1e-4)
    assert row[1] > row[2]  # the related specialty outweighs the less likely held one here
