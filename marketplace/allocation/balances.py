"""Balances derived from the ledger (sums per service, district or application)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from marketplace.allocation.models import LedgerEntry, LedgerKind


@dataclass(frozen=True)
class Totals:
    """Ledger sums in hundredths for one group of entries."""

    allocated: int = 0
    released: int = 0
    expired: int = 0
    consumed: int = 0

    @property
    def held(self) -> int:
        """Still with the district: allocated but neither used, given back nor lapsed."""
        return self.allocated - self.released - self.expired - self.consumed

    @property
    def committed(self) -> int:
        """Gone from the pool: held, consumed or expired."""
        return self.allocated - self.released

    def remaining(self, bought: int) -> int:
        return bought - self.committed

    def add(self, kind: str, amount: int) -> Totals:
        field = _FIELD_OF[kind]
        return Totals(**{**self.__dict__, field: getattr(self, field) + amount})


_FIELD_OF = {
    LedgerKind.allocation.value: "allocated",
    LedgerKind.release.value: "released",
    LedgerKind.expiry.value: "expired",
    LedgerKind.consumption.value: "consumed",
}


def reconciles(
    *, bought: int, remaining: int, held: Iterable[int], consumed: int, expired: int
) -> bool:
    """bought = remaining + Σ held + consumed + expired, with nothing negative."""
    held = list(held)
    if remaining < 0 or consumed < 0 or expired < 0 or any(h < 0 for h in held):
        return False
    return bought == remaining + sum(held) + consumed + expired


def ledger_totals(
    *,
    session: Session,
    by: str,
    service_ids: Iterable[int] | None = None,
    district_ids: Iterable[int] | None = None,
    application_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[Any, Totals]:
    """Ledger sums grouped `by` "service", "district", "application" or "service_district"."""
    keys = {
        "service": (col(LedgerEntry.service_id),),
        "district": (col(LedgerEntry.district_id),),
        "application": (col(LedgerEntry.application_id),),
        "service_district": (col(LedgerEntry.service_id), col(LedgerEntry.district_id)),
    }[by]
    # One or two key columns: select()'s overloads are typed per number of columns, so the
    # statement's row type cannot be named here (rows are unpacked below).
    columns: tuple[Any, ...] = (*keys, col(LedgerEntry.kind), func.sum(LedgerEntry.hundredths))
    query: Any = select(*columns).group_by(*columns[:-1])
    if service_ids is not None:
        query = query.where(col(LedgerEntry.service_id).in_(list(service_ids)))
    if district_ids is not None:
        query = query.where(col(LedgerEntry.district_id).in_(list(district_ids)))
    if application_ids is not None:
        query = query.where(col(LedgerEntry.application_id).in_(list(application_ids)))
    if since is not None:
        query = query.where(LedgerEntry.at >= since)
    if until is not None:
        query = query.where(LedgerEntry.at < until)
    result: dict[Any, Totals] = {}
    for row in session.exec(query).all():
        *key_parts, kind, amount = row
        key = key_parts[0] if len(key_parts) == 1 else tuple(key_parts)
        result[key] = result.get(key, Totals()).add(kind, int(amount or 0))
    return result
