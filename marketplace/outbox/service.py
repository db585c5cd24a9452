"""Enqueue index work in the same transaction as the write that caused it."""

from __future__ import annotations

from sqlmodel import Session

from marketplace.outbox.models import IndexOutbox


def enqueue(
    *, session: Session, entity_type: str, entity_id: str, operation: str = "upsert"
) -> None:
    """Record that `entity_type/entity_id` must be (re)indexed or deleted from the index."""
    session.add(IndexOutbox(entity_type=entity_type, entity_id=entity_id, operation=operation))
