"""Small summaries shared by report sections (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean, median, quantiles


def percentile_90(values: Sequence[float]) -> float | None:
    """The 90th percentile with linear interpolation between order statistics (numpy's default)."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return quantiles(values, n=10, method="inclusive")[-1]


def median_p90(values: Sequence[float]) -> tuple[float | None, float | None]:
    """(median, 90th percentile) rounded to 0.01, or (None, None) for no values."""
    if not values:
        return None, None
    p90 = percentile_90(values)
    return round(median(values), 2), round(p90, 2) if p90 is not None else None


def ratio(part: float, whole: float) -> float | None:
    """part / whole rounded to 0.0001, None when the whole is not positive."""
    return round(part / whole, 4) if whole > 0 else None


def mean_or_none(values: Sequence[float]) -> float | None:
    return round(mean(values), 2) if values else None
