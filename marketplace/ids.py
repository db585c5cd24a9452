"""The id of a stored row: SQLModel types `id` as Optional because it is None until flushed."""

from __future__ import annotations

from typing import Protocol


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Row) -> int:
    """`row.id`, for a row that has been flushed (AssertionError for one that has not)."""
    assert row.id is not None, "row not flushed yet"
    return row.id
