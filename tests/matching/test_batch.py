import json

import numpy as np

from matching.batch import plan_batch
from matching.records import parse_request_lines
from tests.matching.factories import SHANGLUO, XIAN_YANTA, expert, need


def plan(needs, pool, method="solver", relevance=None):
    relevance = np.full((len(needs), len(pool)), 0.5) if relevance is None else relevance
    return plan_batch(needs, pool, relevance=relevance, method=method)


def test_every_request_is_either_assigned_or_unassigned_with_a_reason():
    needs = [
        need("ok"),
        need("far", place=SHANGLUO, service_type="training"),
        need("excluded", excluded=frozenset({"E1", "E2"})),
        need("long", hours=100),
        need("zero", hours=0),
    ]
    result = plan(needs, [expert("E1"), expert("E2", place=XIAN_YANTA)])
    ids = [a.need_id for a in result.assignments] + [u.need_id for u in result.unassigned]
    assert sorted(ids) == sorted(n.id for n in needs)
    reasons = {u.need_id: u.reason for u in result.unassigned}
    assert reasons == {
        "far": "商洛市没有提供到校/线下培训服务的专家（到校服务须由同市专家承担）",
        "excluded": "符合条件的专家都在回避名单中",
        "long": "所需 100 小时超过任何符合条件专家的月度可用时长（最多 20 小时）",
        "zero": "申请无效：所需时长必须大于 0",
    }


def test_capacity_exhausted_by_the_batch_is_the_reason_given():
    needs = [need("R1", hours=12), need("R2", hours=12)]
    result = plan(needs, [expert("E1")])
    assert [a.need_id for a in result.assignments] == ["R1"]
    assert (
        result.unassigned[0].reason
        == "符合条件的 1 位专家本月时长已分配给本批其他（更紧急或更匹配的）申请"
    )


def test_a_partly_served_request_says_how_many_experts_it_got_and_why():
    result = plan([need("R1", experts_needed=3)], [expert("E1"), expert("E2")])
    (item,) = result.assignments
    assert item.expert_ids == ["E1", "E2"]
    assert item.reasons[-1] == "仅匹配到 2/3 位专家：符合全部条件的专家只有 2 位"


def test_an_alternate_with_spare_hours_is_offered():
    relevance = np.array([[0.9, 0.2]])
    result = plan([need("R1")], [expert("E1"), expert("E2")], relevance=relevance)
    assert result.assignments[0].expert_ids == ["E1"]
    assert result.assignments[0].alternate.expert_id == "E2"


def test_output_has_exactly_the_exchange_format_keys():
    data = plan([need("R1"), need("R2", service_type="assessment")], [expert("E1")]).to_json()
    assert set(data) == {"assignments", "unassigned"}
    assert set(data["assignments"][0]) == {"request_id", "expert_ids", "score", "reasons"}
    assert data["unassigned"] == [{"request_id": "R2", "reason": "没有专家提供测评服务"}]
    assert data["assignments"][0]["reasons"][0].startswith("E1：")


def test_an_empty_batch_and_an_empty_pool_do_not_crash():
    assert plan([], [expert()]).to_json() == {"assignments": [], "unassigned": []}
    result = plan([need("R1")], [])
    assert result.unassigned[0].reason == "专家库中没有可用（在岗）的专家"


def test_greedy_and_solver_both_respect_the_hard_rules_on_a_contended_batch():
    rng = np.random.default_rng(3)
    pool = [expert(f"E{i}", capacity_hours=int(rng.integers(4, 16))) for i in range(6)]
    needs = [
        need(f"R{i}", hours=int(rng.integers(2, 6)), experts_needed=int(rng.integers(1, 3)))
        for i in range(12)
    ]
    relevance = rng.random((len(needs), len(pool)))
    for method in ("solver", "greedy"):
        result = plan(needs, pool, method=method, relevance=relevance)
        used: dict[str, int] = {}
        for a in result.assignments:
            n = next(x for x in needs if x.id == a.need_id)
            assert len(a.expert_ids) <= n.experts_needed
            for e in a.expert_ids:
                used[e] = used.get(e, 0) + n.hours
        assert all(used[e.id] <= e.capacity_hours for e in pool if e.id in used)


def test_bad_request_lines_are_reported_by_id_or_line_number():
    lines = [
        "not json",
        json.dumps({"id": "DR9", "text": "x", "hours": 0}),
        "",
        json.dumps(
            {
                "id": "DR1",
                "text": "需要危机干预",
                "district": {"province": "陕西省", "city": "西安市", "district": "碑林区"},
                "service_type": "crisis_support",
                "format": "onsite",
                "hours": 2,
                "experts_needed": 1,
                "exclude_experts": [],
                "window": {"start": "2027-03-01", "end": "2027-03-31"},
            },
            ensure_ascii=False,
        ),
    ]
    parsed = parse_request_lines(lines)
    assert [line.id for line in parsed.lines] == ["DR1"]
    assert parsed.rejected[0] == ("第1行", "第 1 行无效：不是有效的 JSON")
    assert parsed.rejected[1][0] == "DR9"
    assert "hours" in parsed.rejected[1][1] and "district" in parsed.rejected[1][1]


def test_nobody_who_fits_the_need_is_proposed_the_closest_is_the_alternate():
    """An onsite request whose city has only experts of another specialty is left to staff with
    a reason, not filled with whoever is free; the closest expert is offered as the alternate."""
    pool = [expert("E1", specialties=("生涯规划指导",))]
    needs = [need("R1")]
    crisis = [{"心理危机干预": 0.9, "生涯规划指导": 0.02}]
    result = plan_batch(needs, pool, relevance=np.full((1, 1), 0.5), specialty_weights=crisis)
    assert result.assignments == []
    (unserved,) = result.unassigned
    assert unserved.reason.startswith(
        "西安市可提供到校/线下危机支持服务的专家中，没有擅长该需求的人选"
    )
    assert unserved.alternate.expert_id == "E1"

    from dataclasses import replace

    from matching.scoring import DEFAULT_WEIGHTS

    no_floor = replace(DEFAULT_WEIGHTS, min_fit=0.0)
    result = plan_batch(
        needs, pool, relevance=np.full((1, 1), 0.5), specialty_weights=crisis, weights=no_floor
    )
    assert [a.expert_ids for a in result.assignments] == [["E1"]]


def test_the_fit_floor_keeps_the_experts_who_fit_and_says_why_the_rest_is_short():
    pool = [expert("E1"), expert("E2", specialties=("生涯规划指导",))]
    crisis = [{"心理危机干预": 0.9, "生涯规划指导": 0.02}]
    result = plan_batch(
        [need("R1", experts_needed=2)],
        pool,
        relevance=np.full((1, 2), 0.5),
        specialty_weights=crisis,
    )
    (item,) = result.assignments
    assert item.expert_ids == ["E1"]
    assert item.reasons[-1] == "仅匹配到 1/2 位专家：擅长该需求且符合条件的专家只有 1 位"
    assert item.alternate.expert_id == "E2"


def test_without_a_need_distribution_there_is_no_fit_floor():
    """The BM25 fallback gives no specialty distribution: every feasible expert stays eligible."""
    result = plan([need("R1")], [expert("E1", specialties=("生涯规划指导",))])
    assert [a.expert_ids for a in result.assignments] == [["E1"]]
