"""Batch assignment at scale: the solver against greedy on the same affinities, and the LP gap.

    python benchmarks/matching.py                       # modest: 500 requests × 5,000 experts
    python benchmarks/matching.py --requests 2000 --experts 20000   # the issue's target size

The batch is synthesised by varying the dev data: experts are copies of the 600 dev experts with
capacity, seniority and district (within the same city) varied; requests are copies of the dev
requests with hours, experts_needed, urgency and district varied. Affinities come from the real
scoring formula over matching's default relevance of the dev texts (need model + BM25, ±10%
jitter per copy), computed once into a dense matrix that both methods read:

* greedy: requests in urgency-then-file order take their best feasible experts with hours left,
  over the full matrix (no pruning) — the baseline;
* solver: prune to the top-K candidates per request, then HiGHS MILP with the fairness floor.

The bound is the LP relaxation of the *unpruned* problem (no fairness floor), certified through
LP duality: the pruned LP's duals (u_r, v_e) give Σ slots·u + Σ capacity·v + Σ_pairs
max(0, w·a − u_r − hours_r·v_e) over every feasible pair, an upper bound on any valid selection.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.assign import PRIORITY, Problem, assign, lp_relaxation, validate  # noqa: E402
from matching.batch import DEFAULT_TOP_K  # noqa: E402
from matching.records import (  # noqa: E402
    expert_from_record,
    need_from_line,
    parse_request_lines,
    text_from_record,
    vocabulary,
    zone_map,
)
from matching.relevance import default_relevance  # noqa: E402
from matching.scoring import expert_arrays, feasible_mask, score_row, specialty_fit_rows  # noqa: E402

DEV = next(
    (
        p / "shared" / "eval" / "dev"
        for p in Path(__file__).resolve().parents[1].parents
        if (p / "shared" / "eval" / "dev").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev",
)


def synthesise(n_requests: int, n_experts: int, seed: int, capacity_scale: float = 1.0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    zones = zone_map()
    records = [
        json.loads(x) for x in (DEV / "experts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    districts_of: dict[tuple[str, str], list[str]] = {}
    for province, city, district in zones:
        districts_of.setdefault((province, city), []).append(district)
    base_pool = [expert_from_record(r, zones) for r in records]
    pool, expert_base = [], []
    for j in range(n_experts):
        b = j % len(base_pool)
        e = base_pool[b]
        if j >= len(base_pool):
            choices = districts_of.get((e.place.province, e.place.city)) or [e.place.district]
            district = choices[rng.integers(len(choices))]
            place = replace(
                e.place,
                district=district,
                zone=zones.get((e.place.province, e.place.city, district)),
            )
            e = replace(
                e,
                id=f"{e.id}-{j}",
                place=place,
                capacity_hours=int(
                    max(2, capacity_scale * (e.capacity_hours + rng.integers(-4, 5)))
                ),
                years_experience=int(max(0, e.years_experience + rng.integers(-3, 4))),
            )
        pool.append(e)
        expert_base.append(b)
    lines = parse_request_lines(
        (DEV / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    ).lines
    base_needs = [need_from_line(x, zones) for x in lines]
    needs, need_base = [], []
    for i in range(n_requests):
        b = i % len(base_needs)
        n = base_needs[b]
        if i >= len(base_needs):
            key = (n.place.province, n.place.city)
            choices = districts_of.get(key) or [n.place.district]
            district = choices[rng.integers(len(choices))]
            n = replace(
                n,
                id=f"{n.id}-{i}",
                place=replace(n.place, district=district, zone=zones.get((*key, district))),
                hours=int(rng.choice([2, 4, 6, 8])),
                experts_needed=int(rng.choice([1, 1, 1, 2, 3])),
                urgency=str(rng.choice(["normal"] * 8 + ["urgent", "crisis"])),
            )
        needs.append(n)
        need_base.append(b)
    texts = [text_from_record(r) for r in records]
    names, synonyms = vocabulary()
    relevance = default_relevance(texts, vocabulary=names, synonyms=synonyms)
    base_texts = [n.text for n in base_needs]
    base_relevance = relevance.scores(base_texts, [e.id for e in base_pool])
    weights = relevance.needs(base_texts) if relevance.needs else [{} for _ in base_texts]
    base_fit = specialty_fit_rows(weights, expert_arrays(base_pool))
    return needs, pool, (base_relevance, base_fit), np.array(need_base), np.array(expert_base), rng


def dense_affinity(needs, pool, base, need_base, expert_base, rng):  # type: ignore[no-untyped-def]
    base_relevance, base_fit = base
    arrays = expert_arrays(pool)
    matrix = np.empty((len(needs), len(pool)), dtype=np.float32)
    for i, n in enumerate(needs):
        jitter = rng.uniform(0.9, 1.1, len(pool))
        relevance = np.minimum(base_relevance[need_base[i]][expert_base] * jitter, 1.0)
        fit = np.minimum(base_fit[need_base[i]][expert_base] * jitter, 1.0)
        mask, _ = feasible_mask(n, arrays)
        matrix[i] = score_row(n, arrays, relevance=relevance, specialty_fit=fit, mask=mask)
    return matrix, arrays


def greedy_dense(matrix: np.ndarray, needs, capacity: np.ndarray, priority: np.ndarray):  # type: ignore[no-untyped-def]
    remaining = capacity.copy()
    chosen: list[tuple[int, int]] = []
    order = np.lexsort((np.arange(len(needs)), -priority))
    for r in order:
        row = matrix[r]
        feasible = np.flatnonzero(np.isfinite(row))
        hours, slots, got = needs[r].hours, needs[r].experts_needed, 0
        for e in feasible[np.argsort(-row[feasible], kind="stable")]:
            if got >= slots:
                break
            if remaining[e] >= hours:
                remaining[e] -= hours
                chosen.append((int(r), int(e)))
                got += 1
    return chosen


def prune(matrix: np.ndarray, needs, arrays, priority, top_k: int) -> Problem:  # type: ignore[no-untyped-def]
    pair_need, pair_expert, pair_aff = [], [], []
    for i in range(len(needs)):
        row = matrix[i]
        finite = int(np.isfinite(row).sum())
        k = min(top_k, finite)
        if k == 0:
            continue
        top = np.argpartition(-row, k - 1)[:k]
        top = top[np.isfinite(row[top])]
        pair_need.append(np.full(len(top), i))
        pair_expert.append(top)
        pair_aff.append(row[top].astype(np.float64))
    groups: dict[tuple, int] = {}
    return Problem(
        hours=np.array([n.hours for n in needs], dtype=np.float64),
        slots=np.array([n.experts_needed for n in needs]),
        priority=priority,
        group=np.array(
            [groups.setdefault((n.place.city, n.place.district), len(groups)) for n in needs]
        ),
        capacity=arrays.remaining.copy(),
        pair_need=np.concatenate(pair_need),
        pair_expert=np.concatenate(pair_expert),
        pair_affinity=np.concatenate(pair_aff),
    )


def dual_bound(matrix: np.ndarray, needs, problem: Problem) -> float:  # type: ignore[no-untyped-def]
    relaxation = lp_relaxation(problem)
    u, v = relaxation.need_duals, relaxation.expert_duals
    total = float(problem.slots @ u + problem.capacity @ v)
    for r, n in enumerate(needs):
        row = matrix[r]
        finite = np.isfinite(row)
        reduced = problem.priority[r] * row[finite] - u[r] - n.hours * v[finite]
        total += float(np.maximum(reduced, 0).sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--experts", type=int, default=5000)
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--capacity-scale",
        type=float,
        default=1.0,
        help="multiply the synthesised experts' monthly hours (e.g. 0.1 for a contended batch)",
    )
    args = parser.parse_args()

    t = time.perf_counter()
    needs, pool, base_rel, need_base, expert_base, rng = synthesise(
        args.requests, args.experts, args.seed, args.capacity_scale
    )
    matrix, arrays = dense_affinity(needs, pool, base_rel, need_base, expert_base, rng)
    scored = time.perf_counter() - t
    priority = np.array([PRIORITY[n.urgency] for n in needs])
    slots = sum(n.experts_needed for n in needs)
    print(
        f"batch: {len(needs)} requests ({slots} slots) × {len(pool)} experts; "
        f"synthesis + scoring {scored:.1f}s (shared by both methods)"
    )

    t = time.perf_counter()
    greedy_pairs = greedy_dense(matrix, needs, arrays.remaining, priority)
    greedy_time = time.perf_counter() - t
    greedy_obj = sum(priority[r] * matrix[r, e] for r, e in greedy_pairs)
    greedy_aff = sum(matrix[r, e] for r, e in greedy_pairs)

    t = time.perf_counter()
    problem = prune(matrix, needs, arrays, priority, args.top_k)
    prune_time = time.perf_counter() - t
    t = time.perf_counter()
    solution = assign(problem)
    solve_time = time.perf_counter() - t
    assert validate(problem, solution.chosen) == [], "solver produced an invalid selection"

    t = time.perf_counter()
    bound = dual_bound(matrix, needs, problem)
    bound_time = time.perf_counter() - t
    ours_time = prune_time + solve_time
    print(f"{'method':34} {'time s':>8} {'objective':>11} {'affinity':>10} {'filled':>7}")
    print(
        f"{'greedy, full matrix (baseline)':34} {greedy_time:>8.2f} {greedy_obj:>11.2f} {greedy_aff:>10.2f} "
        f"{len(greedy_pairs) / slots:>7.1%}"
    )
    label = f"solver: top-{args.top_k} prune + HiGHS"
    print(
        f"{label:34} {ours_time:>8.2f} {solution.objective:>11.2f} "
        f"{solution.total_affinity:>10.2f} {solution.chosen.sum() / slots:>7.1%}"
    )
    print(
        f"  prune {prune_time:.2f}s + HiGHS {solve_time:.2f}s ({solution.status}, "
        f"{len(problem.pair_need)} candidate pairs)"
    )
    print(f"LP bound of the unpruned problem (dual certificate, {bound_time:.1f}s): {bound:.2f}")
    print(
        f"gap to LP bound: solver {(bound - solution.objective) / bound:.3%}, "
        f"greedy {(bound - greedy_obj) / bound:.3%}"
    )
    print(
        f"solver / greedy: objective {solution.objective / greedy_obj:.4f}x, time {ours_time / greedy_time:.2f}x"
    )


if __name__ == "__main__":
    main()
