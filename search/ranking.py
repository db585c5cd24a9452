"""Pure score fusion for expert search (no database, no model loading).

Inputs per query, for a list of candidate experts (same order everywhere):

* ``need``: the need model's distribution ``{specialty: probability}``
  (:meth:`search.needs.NeedModel.predict`), possibly only the top few specialties;
* ``specialties``: each candidate's specialty tags;
* ``lexical``: BM25 (or any non-negative lexical) scores, optional;
* ``dense``: cosine similarities from the embedding model, optional.

The main signal is the **expected gain** of a candidate under the need distribution:
``EG(e) = sum_s p(s) * (GAIN_HOLDS if s in specialties(e) else 0)`` (plus ``GAIN_RELATED`` for a
related specialty when a relation map is given). Relevance in the directory *is* "holds the
specialty the need calls for", so ranking by expected gain is the Bayes-optimal ranking for
DCG when ``p`` is calibrated. The lexical and dense scores are then added as small
tie-breakers, each normalised per query to [0, 1].

Measured on shared/eval/dev (600 experts, 224 needs; ``benchmarks/search_quality.py``), need
model trained on the directory only ("bios only", no labelled query), nDCG@10 / R@50 / P@5:

=====================================  =====================  ===============================
variant                                nDCG  R@50  P@5        note
=====================================  =====================  ===============================
BM25 alone (jieba + vocabulary)        0.523 0.310 0.509      the baseline
dense all-MiniLM-L6-v2 alone           0.172 0.109 0.128      English model, cannot read
                                                              Chinese
naive RRF(BM25, dense)                 0.354 0.236 0.323      worse than BM25 alone
need model alone, p**1.0               0.759 0.615 0.741      under-confident posteriors
need model alone, p**1.5               0.764 0.629 0.746      ``NEED_POWER``; 2.0 -> 0.766
+ BM25 w=0.02 (max-norm)               0.763 0.626 0.749      default; 0.01 -> 0.763,
                                                              0.05 -> 0.759, 0.1 -> 0.756
+ dense w=0.05 (min-max)               0.762 0.628 0.747      vs 0.763 without; CV 0.777 vs
                                                              0.776: no use -> off by default
+ related specialties, gain 1 / 0.5    0.720 / 0.739          (LR-only model, 5-fold CV
                                                              relation map; 0.747 without):
                                                              flat ``p`` lets experts with
                                                              many related tags overtake
                                                              holders -> ``GAIN_RELATED`` 0
need model, 5-fold CV with queries     0.777 0.634 0.766      fused w=0.02: 0.776 (seed 0;
                                                              seed 1: 0.778)
=====================================  =====================  ===============================

Expert-split simulation (need model trained on the bios of one half of the directory, ranking
the other half; 2 seeds x 2 directions), fused bios-only: 0.695-0.727 vs BM25 0.455-0.482 on
the same halves (x1.47-1.58).

BM25 carries almost no information the need model lacks on this data (the need model already
reads the bio text): in the grid above it helps recall@50 marginally and costs nDCG beyond
0.02. It stays at 0.02 as a tie-breaker among experts with the same specialties and for needs
that name a technique, instrument or organisation literally (noise level here: 28
specialties x 8 needs). Dense is off by default (``W_DENSE = 0``) but fused when a caller sets
a weight (e.g. a future Chinese encoder). When no need model is available, callers pass
``need=None``: fusion is then lexical (+ dense).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from marketplace.districts.proximity import onsite_nearness

__all__ = [
    "FusionWeights",
    "DEFAULT_WEIGHTS",
    "GAIN_HOLDS",
    "GAIN_RELATED",
    "NEED_POWER",
    "sharpen",
    "expected_gain",
    "normalise_max",
    "normalise_minmax",
    "fuse_scores",
    "rank",
    "matched_specialties",
    "rrf",
    "prefer_near",
    "ONSITE_NEAR_WEIGHT",
]

GAIN_HOLDS = 3.0  # 2**2 - 1: gain of a grade-2 expert (holds the specialty)
GAIN_RELATED = 0.0  # 2**1 - 1 would be 1.0; measured harmful with the current model (above)
NEED_POWER = 1.5  # p ** 1.5, renormalised: the LR posteriors are under-confident
# An on-site search (a visit to the school) adds this times the expert's nearness to the
# school's city (marketplace.districts.proximity: own city 1.0, others ≤ 0.5 by distance; 0 for
# an expert who works online only) to the fused score, whose need part is 1.0 for the best fit:
# a fitting expert in the city comes before an equally fitting one elsewhere, not before a
# clearly better fit. Measured with benchmarks/search_quality.py (on-site table: 5-fold CV
# need+BM25 over the 224 bare dev needs, a school city drawn per need), weight: nDCG@10 / share
# of the top 10 in the school's city / their mean distance: 0: 0.864 / 11% / 182 km, 0.1: 0.863
# / 26% / 146 km, 0.2: 0.857 / 31% / 131 km, 0.3: 0.849 / 35% / 122 km, 0.5: 0.830 / 40% /
# 105 km (the dev qrels know nothing of place, so nDCG counts only what the preference costs).
ONSITE_NEAR_WEIGHT = 0.2


@dataclass(frozen=True)
class FusionWeights:
    need: float = 1.0
    lexical: float = 0.02
    dense: float = 0.0
    need_power: float = NEED_POWER
    gain_related: float = GAIN_RELATED


DEFAULT_WEIGHTS = FusionWeights()


def sharpen(need: Mapping[str, float], power: float = NEED_POWER) -> dict[str, float]:
    """``p ** power`` renormalised (power > 1 sharpens, 1 is identity)."""
    raised = {s: max(float(p), 0.0) ** power for s, p in need.items()}
    total = sum(raised.values())
    return {s: v / total for s, v in raised.items()} if total > 0 else {}


def expected_gain(
    need: Mapping[str, float],
    specialties: Iterable[str],
    *,
    related: Mapping[str, Iterable[str]] | None = None,
    gain_holds: float = GAIN_HOLDS,
    gain_related: float = GAIN_RELATED,
) -> float:
    """Expected gain of one expert: ``sum_s p(s) * gain(expert, s)``.

    ``related`` maps a specialty to its closely related ones (grade 1 in the qrels); an
    expert not holding ``s`` but holding one of ``related[s]`` earns ``gain_related``.
    """
    held = set(specialties)
    total = 0.0
    for s, p in need.items():
        if s in held:
            total += p * gain_holds
        elif gain_related and related and held.intersection(related.get(s, ())):
            total += p * gain_related
    return total


def normalise_max(scores: Sequence[float]) -> list[float]:
    """Divide by the maximum (for non-negative scores such as BM25); all-zero stays zero."""
    top = max(scores, default=0.0)
    return [float(x) / top if top > 0 else 0.0 for x in scores]


def normalise_minmax(scores: Sequence[float]) -> list[float]:
    """Map to [0, 1] per query (for cosine scores, which can be negative)."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    return [(float(x) - lo) / (hi - lo) if hi > lo else 0.0 for x in scores]


def fuse_scores(
    specialties: Sequence[Iterable[str]],
    need: Mapping[str, float] | None,
    lexical: Sequence[float] | None = None,
    dense: Sequence[float] | None = None,
    *,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    related: Mapping[str, Iterable[str]] | None = None,
) -> list[float]:
    """Fused score for each candidate (same order as ``specialties``); higher is better.

    ``fused = w_need * EG/max(EG) + w_lex * lex/max(lex) + w_dense * minmax(dense)``.
    Any of ``need``, ``lexical``, ``dense`` may be None (its term is dropped).
    """
    n = len(specialties)
    fused = [0.0] * n
    if need and weights.need:
        p = sharpen(need, weights.need_power)
        eg = [
            expected_gain(p, sp, related=related, gain_related=weights.gain_related)
            for sp in specialties
        ]
        for i, v in enumerate(normalise_max(eg)):
            fused[i] += weights.need * v
    if lexical is not None and weights.lexical:
        if len(lexical) != n:
            raise ValueError("lexical scores and candidates differ in length")
        for i, v in enumerate(normalise_max(lexical)):
            fused[i] += weights.lexical * v
    if dense is not None and weights.dense:
        if len(dense) != n:
            raise ValueError("dense scores and candidates differ in length")
        for i, v in enumerate(normalise_minmax(dense)):
            fused[i] += weights.dense * v
    return fused


def rank(ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Ids sorted by score, best first (stable: ties keep input order)."""
    order = sorted(range(len(ids)), key=lambda i: -scores[i])
    return [ids[i] for i in order]


def matched_specialties(
    need: Mapping[str, float],
    specialties: Iterable[str],
    *,
    min_prob: float = 0.05,
    related: Mapping[str, Iterable[str]] | None = None,
) -> list[tuple[str, float]]:
    """Which of an expert's specialties the need matched, for "reasons" in the UI.

    Returns ``[(specialty, probability), ...]`` best first, for the expert's specialties whose
    need probability is at least ``min_prob``; with ``related``, an expert specialty that is
    related to a likely need specialty is reported too, at that need's probability (marked by
    the caller as "related" if it compares with ``need``).
    """
    held = list(dict.fromkeys(specialties))
    out: dict[str, float] = {}
    for s in held:
        p = float(need.get(s, 0.0))
        if p >= min_prob:
            out[s] = p
    if related:
        for s, p in need.items():
            if p < min_prob or s in held:
                continue
            for r in related.get(s, ()):
                if r in held and r not in out:
                    out[r] = float(p)
    return sorted(out.items(), key=lambda kv: -kv[1])


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal-rank fusion (the naive reference method): ``sum 1 / (k + rank)``."""
    out: dict[str, float] = {}
    for ranking in rankings:
        for r, x in enumerate(ranking, start=1):
            out[x] = out.get(x, 0.0) + 1.0 / (k + r)
    return out


def prefer_near(
    fused: Sequence[float],
    cities: Sequence[str | None],
    school_city: str,
    weight: float = ONSITE_NEAR_WEIGHT,
) -> list[float]:
    """Fused scores of an on-site search: each plus `weight` times its expert's nearness."""
    return [
        f + weight * onsite_nearness(school_city, c) for f, c in zip(fused, cities, strict=True)
    ]
