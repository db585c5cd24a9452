"""Reviewing a batch proposal (pure): the summary of the pairs as they stand after staff edits,
what a confirmation settles and leaves open, and a fit score in words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from matching.models import PairPublic, PairRole, PairStatus

# Affinity scores run from 0 to 1 (matching.scoring); the words staff read instead of decimals.
FIT_WORDS = ((0.75, "很适合"), (0.55, "适合"), (0.0, "一般"))


def fit_word(score: float) -> str:
    return next(word for floor, word in FIT_WORDS if score >= floor)


def is_active(pair: PairPublic) -> bool:
    return pair.role == PairRole.assigned and pair.status != PairStatus.removed


@dataclass(frozen=True)
class ReviewSummary:
    slots: int  # experts needed over all requests
    filled: int  # active assignments, at most what each request needs
    total_fit: float
    met: list[int]  # requests with every expert they need
    partly: list[int]  # requests with some but not all
    open: list[int]  # requests with none


def review_summary(pairs: Iterable[PairPublic], needs: Mapping[int, int]) -> ReviewSummary:
    """The proposal's figures from its pairs as they are now (`needs`: request id → experts)."""
    active = [p for p in pairs if is_active(p)]
    per_request = {r: 0 for r in needs}
    for pair in active:
        per_request[pair.request_id] = per_request.get(pair.request_id, 0) + 1
    met = sorted(r for r, n in per_request.items() if n >= needs.get(r, 1))
    partly = sorted(r for r, n in per_request.items() if 0 < n < needs.get(r, 1))
    return ReviewSummary(
        slots=sum(needs.values()),
        filled=sum(min(n, needs.get(r, 1)) for r, n in per_request.items()),
        total_fit=round(sum(p.score for p in active), 4),
        met=met,
        partly=partly,
        open=sorted(r for r, n in per_request.items() if n == 0),
    )
