"""A whole batch, pure: score every pair, prune to the best candidates, solve, explain.

Input is plain data (needs, the expert pool, a relevance matrix); output says, for every need,
which experts were assigned and why, one alternate, or why it could not be served. No need is
ever dropped: each appears either in `assignments` or in `unassigned`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from marketplace import messages
from matching.assign import PRIORITY, Problem, Solution, assign, greedy
from matching.scoring import (
    DEFAULT_WEIGHTS,
    ExpertArrays,
    ExpertProfile,
    Need,
    PairExplanation,
    Screening,
    Weights,
    expert_arrays,
    explain,
    feasible_mask,
    score_row,
    specialty_fit_rows,
)

# Candidates kept per request before solving: enough for contention, small enough to be fast.
DEFAULT_TOP_K = 30
Progress = Callable[[int, int], None]


@dataclass
class Assigned:
    need_id: str
    experts: list[PairExplanation]
    alternate: PairExplanation | None = None
    shortfall: str | None = None  # set when fewer experts than needed were found

    @property
    def expert_ids(self) -> list[str]:
        return [p.expert_id for p in self.experts]

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.experts) / len(self.experts), 4)

    @property
    def reasons(self) -> list[str]:
        out = [f"{p.expert_id}：{p.summary}" for p in self.experts]
        if self.shortfall:
            out.append(self.shortfall)
        return out


@dataclass
class Unserved:
    need_id: str
    reason: str
    alternate: PairExplanation | None = None


@dataclass
class BatchResult:
    assignments: list[Assigned] = field(default_factory=list)
    unassigned: list[Unserved] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The exchange format: {"assignments": [...], "unassigned": [...]}."""
        return {
            "assignments": [
                {
                    "request_id": a.need_id,
                    "expert_ids": a.expert_ids,
                    "score": a.score,
                    "reasons": a.reasons,
                }
                for a in self.assignments
            ],
            "unassigned": [{"request_id": u.need_id, "reason": u.reason} for u in self.unassigned],
        }


def _label(table: Mapping[str, str], key: str) -> str:
    return table.get(key, key)


def unserved_reason(need: Need, screen: Screening) -> str:
    """Why nobody can take `need`: the first hard rule that leaves no expert."""
    service = _label(messages.SERVICE_TYPE_LABELS, need.service_type)
    fmt = _label(messages.FORMAT_LABELS, need.format)
    if screen.active == 0:
        return messages.UNSERVED_NO_EXPERTS
    if screen.service == 0:
        return messages.UNSERVED_SERVICE.format(service=service)
    if screen.format == 0:
        return messages.UNSERVED_FORMAT.format(format=fmt, service=service)
    if screen.city == 0:
        return messages.UNSERVED_CITY.format(city=need.place.city, format=fmt, service=service)
    if screen.not_excluded == 0:
        return messages.UNSERVED_EXCLUDED
    if screen.hours_fit == 0:
        return messages.UNSERVED_HOURS.format(hours=need.hours, most=int(screen.most_capacity))
    if screen.not_booked == 0:
        return messages.UNSERVED_BOOKED
    if screen.fitting == 0:
        return messages.UNSERVED_NO_FIT.format(city=need.place.city, format=fmt, service=service)
    return messages.UNSERVED_CONTENTION.format(
        n=screen.not_booked if screen.fitting < 0 else screen.fitting
    )


def invalid_reason(need: Need) -> str | None:
    if need.hours <= 0:
        return messages.UNSERVED_INVALID.format(reason="所需时长必须大于 0")
    if need.experts_needed <= 0:
        return messages.UNSERVED_INVALID.format(reason="所需专家人数必须大于 0")
    return None


@dataclass
class Candidates:
    """The pruned pair list and per-need screening, ready for the solver."""

    problem: Problem
    screens: list[Screening | None]
    invalid: dict[int, str]
    arrays: ExpertArrays
    # per need: the best feasible expert below Weights.min_fit (offered as the alternate)
    below_fit: dict[int, int] = field(default_factory=dict)


def build_candidates(
    needs: Sequence[Need],
    pool: Sequence[ExpertProfile],
    *,
    relevance: np.ndarray,
    specialty_weights: Sequence[Mapping[str, float]] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    top_k: int = DEFAULT_TOP_K,
    arrays: ExpertArrays | None = None,
    progress: Progress | None = None,
) -> Candidates:
    """Score each need against the pool (vectorised) and keep its `top_k` feasible experts."""
    arrays = arrays or expert_arrays(pool)
    specialty_weights = specialty_weights or [{} for _ in needs]
    groups: dict[tuple[str, str, str], int] = {}
    pair_need, pair_expert, pair_aff = [], [], []
    screens: list[Screening | None] = []
    invalid: dict[int, str] = {}
    below_fit: dict[int, int] = {}
    chunk = 256
    for start in range(0, len(needs), chunk):
        block = needs[start : start + chunk]
        fit = specialty_fit_rows(
            specialty_weights[start : start + len(block)], arrays, weights=weights
        )
        for offset, need in enumerate(block):
            i = start + offset
            reason = invalid_reason(need)
            if reason:
                invalid[i] = reason
                screens.append(None)
                continue
            mask, screen = feasible_mask(need, arrays)
            if not screen.not_booked:
                screens.append(screen)
                continue
            row = score_row(
                need,
                arrays,
                relevance=relevance[i],
                specialty_fit=fit[offset],
                mask=mask,
                weights=weights,
            )
            if weights.min_fit > 0 and specialty_weights[i]:
                fits = mask & (fit[offset] >= weights.min_fit)
                screen = replace(screen, fitting=int(fits.sum()))
                below = np.where(fits, -np.inf, row)
                if np.isfinite(below.max()):
                    below_fit[i] = int(np.argmax(below))
                row = np.where(fits, row, -np.inf)
            screens.append(screen)
            k = min(top_k, screen.not_booked if screen.fitting < 0 else screen.fitting)
            if k <= 0:
                continue
            top = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            top = top[np.isfinite(row[top])]
            # deterministic order: best first, ties by expert position
            top = top[np.lexsort((top, -row[top]))]
            pair_need.append(np.full(len(top), i))
            pair_expert.append(top)
            pair_aff.append(row[top])
        if progress:
            progress(min(start + chunk, len(needs)), len(needs))
    for need in needs:
        groups.setdefault((need.place.province, need.place.city, need.place.district), len(groups))
    problem = Problem(
        hours=np.array([max(n.hours, 0) for n in needs], dtype=np.float64),
        slots=np.array([max(n.experts_needed, 0) for n in needs], dtype=np.int64),
        priority=np.array([PRIORITY.get(n.urgency, 1.0) for n in needs]),
        group=np.array(
            [groups[(n.place.province, n.place.city, n.place.district)] for n in needs],
            dtype=np.int64,
        ),
        capacity=arrays.remaining.copy(),
        pair_need=np.concatenate(pair_need) if pair_need else np.zeros(0, dtype=np.int64),
        pair_expert=np.concatenate(pair_expert) if pair_expert else np.zeros(0, dtype=np.int64),
        pair_affinity=np.concatenate(pair_aff) if pair_aff else np.zeros(0),
    )
    return Candidates(problem, screens, invalid, arrays, below_fit)


def plan_batch(
    needs: Sequence[Need],
    pool: Sequence[ExpertProfile],
    *,
    relevance: np.ndarray,
    specialty_weights: Sequence[Mapping[str, float]] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    top_k: int = DEFAULT_TOP_K,
    method: str = "solver",
    progress: Progress | None = None,
) -> BatchResult:
    """Assign experts to a batch of needs; every need ends up assigned or explained."""
    specialty_weights = list(specialty_weights or [{} for _ in needs])
    candidates = build_candidates(
        needs,
        pool,
        relevance=relevance,
        specialty_weights=specialty_weights,
        weights=weights,
        top_k=top_k,
        progress=progress,
    )
    problem = candidates.problem
    solution: Solution = greedy(problem) if method == "greedy" else assign(problem)
    return explain_solution(
        needs,
        pool,
        candidates,
        solution,
        relevance=relevance,
        specialty_weights=specialty_weights,
        weights=weights,
    )


def explain_solution(
    needs: Sequence[Need],
    pool: Sequence[ExpertProfile],
    candidates: Candidates,
    solution: Solution,
    *,
    relevance: np.ndarray,
    specialty_weights: Sequence[Mapping[str, float]],
    weights: Weights = DEFAULT_WEIGHTS,
) -> BatchResult:
    """Turn a selection into assignments with reasons, alternates and unserved reasons."""
    problem = candidates.problem
    chosen = solution.chosen
    used = np.bincount(
        problem.pair_expert[chosen],
        weights=problem.hours[problem.pair_need[chosen]],
        minlength=len(problem.capacity),
    )
    left = problem.capacity - used
    by_need: dict[int, list[int]] = {}
    for p in np.nonzero(chosen)[0]:
        by_need.setdefault(int(problem.pair_need[p]), []).append(int(p))
    order = np.lexsort((-problem.pair_affinity, problem.pair_need))
    starts = np.searchsorted(problem.pair_need[order], np.arange(len(needs) + 1))

    def pair(i: int, e: int) -> PairExplanation:
        return explain(
            needs[i],
            pool[e],
            relevance=float(relevance[i][e]),
            specialty_weights=specialty_weights[i],
            weights=weights,
            related=candidates.arrays.related,
        )

    result = BatchResult()
    for i, need in enumerate(needs):
        if i in candidates.invalid:
            result.unassigned.append(Unserved(need.id, candidates.invalid[i]))
            continue
        picked = sorted(
            by_need.get(i, []), key=lambda p: (-problem.pair_affinity[p], problem.pair_expert[p])
        )
        picked_experts = {int(problem.pair_expert[p]) for p in picked}
        alternate = None
        for p in order[starts[i] : starts[i + 1]]:
            e = int(problem.pair_expert[p])
            if e not in picked_experts and left[e] >= need.hours:
                alternate = pair(i, e)
                break
        if (
            alternate is None
            and i in candidates.below_fit
            and left[candidates.below_fit[i]] >= need.hours
        ):
            alternate = pair(i, candidates.below_fit[i])
        screen = candidates.screens[i]
        assert screen is not None
        if not picked:
            result.unassigned.append(Unserved(need.id, unserved_reason(need, screen), alternate))
            continue
        shortfall = None
        if len(picked) < need.experts_needed:
            if screen.not_booked < need.experts_needed:
                why = f"符合全部条件的专家只有 {screen.not_booked} 位"
            elif 0 <= screen.fitting < need.experts_needed:
                why = messages.MATCH_FEW_FITTING.format(n=screen.fitting)
            else:
                why = unserved_reason(need, screen)
            shortfall = messages.MATCH_PARTIAL.format(
                got=len(picked), needed=need.experts_needed, reason=why
            )
        result.assignments.append(
            Assigned(
                need.id,
                [pair(i, int(problem.pair_expert[p])) for p in picked],
                alternate,
                shortfall,
            )
        )
    slots = int(problem.slots.sum())
    result.stats = {
        "requests": len(needs),
        "served": len(result.assignments),
        "unserved": len(result.unassigned),
        "slots": slots,
        "filled": int(chosen.sum()),
        "total_affinity": round(solution.total_affinity, 4),
        "objective": round(solution.objective, 4),
        "bound": None if solution.bound is None else round(solution.bound, 4),
        "status": solution.status,
        "candidates": int(len(problem.pair_need)),
    }
    return result
