"""Quantities of procured services are stored as integer hundredths of the service's unit.

Integers keep the ledger exact on every database (sums of floats or SQLite "decimals" drift),
while still allowing fractional units such as 1.5 supervision hours.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import pydantic

SCALE = 100

# What the API accepts: a positive number with at most two decimals.
PositiveQuantity = Annotated[Decimal, pydantic.Field(gt=0, max_digits=12, decimal_places=2)]


def to_hundredths(value: Decimal | float | int) -> int:
    """The stored integer for a quantity; refuses more than two decimals."""
    scaled = Decimal(str(value)) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"quantity {value} has more than two decimals")
    return int(scaled)


def from_hundredths(value: int) -> float:
    """The quantity as a JSON number (12.5, 3.0)."""
    return value / SCALE


def format_quantity(value: int) -> str:
    """Hundredths as people write them: 3, 12.5, 0.25."""
    whole, part = divmod(value, SCALE)
    return str(whole) if part == 0 else f"{value / SCALE:g}"


# Amounts per students are given per this many students everywhere (reports and their exports,
# the tile map, fair-share reasons, the approval context): per 10,000 reads as whole numbers
# for the services' sizes, where per 1,000 gave 0.2.
PER_STUDENTS = 10_000
