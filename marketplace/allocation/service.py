"""Allocation of procured services: approvals within the remaining quantity, and the ledger."""

from __future__ import annotations

from sqlmodel import Session

from marketplace.audit.service import Actor


def consume_supervision_hours(
    *, session: Session, district_id: int, hours: float, reference: str, actor: Actor
) -> bool:
    """Charge `hours` to the district's approved supervision-hours allocation; False if none has balance."""
    # The ledger tables land in the next commits; until then no allocation can exist.
    return False
