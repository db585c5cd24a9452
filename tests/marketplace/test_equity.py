"""Equity measures and report periods (pure)."""

from datetime import date

import pytest

from marketplace.reports.equity import gini, lorenz_curve
from marketplace.reports.periods import parse_period


def test_an_even_distribution_has_gini_zero_and_a_diagonal_lorenz_curve():
    assert gini([5, 5, 5, 5]) == pytest.approx(0)
    assert lorenz_curve([5, 5]) == [(0, 0), (0.5, 0.5), (1, 1)]


def test_one_district_holding_everything_approaches_gini_one():
    assert gini([0, 0, 0, 100]) == pytest.approx(0.75)  # n−1/n for n = 4
    assert gini([0] * 99 + [1]) == pytest.approx(0.99)


def test_the_unweighted_gini_matches_the_mean_difference_definition():
    values = [1, 2, 3, 7, 11]
    n, mean = len(values), sum(values) / len(values)
    mean_difference = sum(abs(a - b) for a in values for b in values) / (2 * n * n * mean)
    assert gini(values) == pytest.approx(mean_difference)


def test_population_weights_make_equal_per_capita_amounts_equal():
    # 1 unit per 10 students everywhere is perfectly fair even though the amounts differ.
    assert gini([10, 30, 5], weights=[100, 300, 50]) == pytest.approx(0)
    assert gini([10, 10, 10], weights=[100, 300, 50]) > 0.2


def test_nothing_allocated_is_reported_as_perfect_equality_not_an_error():
    assert gini([0, 0, 0]) == 0
    assert lorenz_curve([0, 0])[-1] == (1.0, 1.0)


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        gini([1, -1])


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("2027-03", date(2027, 3, 1), date(2027, 4, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2027-spring", date(2027, 2, 1), date(2027, 9, 1)),
        ("2026-autumn", date(2026, 9, 1), date(2027, 2, 1)),
    ],
)
def test_months_and_school_terms_parse_to_local_date_ranges(text, start, end):
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["2027-13", "2027", "spring-2027", "27-03", ""])
def test_malformed_periods_are_refused(text):
    with pytest.raises(ValueError):
        parse_period(text)
