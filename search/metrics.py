"""Ranking-quality metrics exactly as ``shared/eval/README.md`` defines them.

* nDCG@k with graded gain ``2**grade - 1`` and log2 discount ``1/log2(rank+1)``; the ideal
  DCG is computed from *all* judged experts of the query (not only the retrieved ones).
* recall@k of grade-2 experts (``relevant_grade=2``).
* P@k counting grade-2 experts, divided by k (missing ranks count as non-relevant).

``ranking`` is a sequence of expert ids, best first; ``qrels`` maps expert id -> grade for one
query (absent = 0). Duplicate ids in a ranking are counted once (first occurrence).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["dcg_at_k", "ndcg_at_k", "recall_at_k", "precision_at_k", "mean"]


def _dedup(ranking: Sequence[str], k: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for x in ranking:
        if x not in seen:
            seen.add(x)
            out.append(x)
            if len(out) == k:
                break
    return out


def _gain(grade: float) -> float:
    return 2.0**grade - 1.0


def dcg_at_k(grades: Sequence[float], k: int) -> float:
    """DCG of a list of grades in rank order (gain 2^g - 1, discount log2(rank + 1))."""
    return sum(_gain(g) / math.log2(i + 2) for i, g in enumerate(list(grades)[:k]))


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k; 0.0 when the query has no judged-relevant expert."""
    ideal = dcg_at_k(sorted((g for g in qrels.values() if g > 0), reverse=True), k)
    if ideal <= 0:
        return 0.0
    return dcg_at_k([qrels.get(x, 0) for x in _dedup(ranking, k)], k) / ideal


def recall_at_k(
    ranking: Sequence[str], qrels: Mapping[str, int], k: int = 50, relevant_grade: int = 2
) -> float:
    """Share of the experts with grade >= ``relevant_grade`` found in the top k (0 if none)."""
    relevant = {x for x, g in qrels.items() if g >= relevant_grade}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedup(ranking, k))) / len(relevant)


def precision_at_k(
    ranking: Sequence[str], qrels: Mapping[str, int], k: int = 5, relevant_grade: int = 2
) -> float:
    """Share of the top k that have grade >= ``relevant_grade`` (denominator is always k)."""
    return sum(1 for x in _dedup(ranking, k) if qrels.get(x, 0) >= relevant_grade) / k


def mean(values: Sequence[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
