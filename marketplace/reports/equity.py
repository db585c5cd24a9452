"""Equity across districts (pure): Gini coefficient and Lorenz curve, optionally weighted.

Districts are sorted by amount per person; the Lorenz curve runs through the cumulative shares of
population (x) and of the amount (y). Gini = 1 − Σ p_i (S_{i−1} + S_i), the standard trapezoid
form, which equals the classic mean-difference Gini when every district has the same weight.
"""

from __future__ import annotations

from collections.abc import Sequence


def _sorted_groups(
    amounts: Sequence[float], weights: Sequence[float] | None
) -> list[tuple[float, float]]:
    if weights is None:
        weights = [1.0] * len(amounts)
    if len(weights) != len(amounts):
        raise ValueError("amounts and weights differ in length")
    if any(a < 0 for a in amounts) or any(w < 0 for w in weights):
        raise ValueError("amounts and weights must not be negative")
    groups = [(a, w) for a, w in zip(amounts, weights, strict=True) if w > 0]
    return sorted(groups, key=lambda g: g[0] / g[1])


def lorenz_curve(
    amounts: Sequence[float], weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """Points (population share, amount share) from (0, 0) to (1, 1)."""
    groups = _sorted_groups(amounts, weights)
    total_weight = sum(w for _, w in groups)
    total_amount = sum(a for a, _ in groups)
    points = [(0.0, 0.0)]
    if total_weight == 0:
        return points + [(1.0, 1.0)]
    cum_w = cum_a = 0.0
    for a, w in groups:
        cum_w += w
        cum_a += a
        y = cum_a / total_amount if total_amount else cum_w / total_weight
        points.append((cum_w / total_weight, y))
    points[-1] = (1.0, 1.0)
    return points


def gini(amounts: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """0 when every person gets the same, towards 1 when one group gets everything."""
    groups = _sorted_groups(amounts, weights)
    if not groups or sum(a for a, _ in groups) == 0:
        return 0.0
    points = lorenz_curve([a for a, _ in groups], [w for _, w in groups])
    area = sum(
        (x1 - x0) * (y0 + y1) for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False)
    )
    return max(0.0, min(1.0, 1.0 - area))
