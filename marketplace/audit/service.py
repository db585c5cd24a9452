"""Writing and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, col, func, select

from marketplace.audit.models import AuditEntry
from marketplace.clock import utcnow
from marketplace.db import write_later


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, or a named system process (CLI, importer)."""

    label: str
    user_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label)


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor=actor.label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


class Identified(Protocol):
    """A table row: whatever has an id once flushed."""

    id: Any


def save_and_record(
    *,
    session: Session,
    row: Identified,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write a new or changed row and append the audit entry of the change; the entry names
    the row by its id (known once flushed) unless `entity_id` names something else."""
    session.add(row)
    session.flush()
    return record(
        session=session,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(row.id if entity_id is None else entity_id),
        before=before,
        after=after,
    )


def _filtered(
    query,
    *,
    entity_type: str | None,
    entity_id: str | None,
    actor: str | None,
    action: str | None,
    actions: list[str] | None,
    since: datetime | None,
    until: datetime | None,
):
    if entity_type:
        query = query.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if actor:
        pattern = "%" + actor.replace("%", "").replace("_", "") + "%"
        query = query.where(col(AuditEntry.actor).ilike(pattern))
    if action:
        query = query.where(AuditEntry.action == action)
    if actions is not None:
        query = query.where(col(AuditEntry.action).in_(actions))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    return query


def list_entries(
    *,
    session: Session,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    actions: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditEntry], int]:
    """Audit entries, newest first, filtered by record, actor (part of the name), action (one
    code, or any of `actions`) and time [since, until)."""
    query = _filtered(
        select(AuditEntry),
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        actions=actions,
        since=since,
        until=until,
    )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEntry.id).desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total


def latest_entries(
    *, session: Session, entity_type: str, entity_ids: list[str], action: str
) -> dict[str, AuditEntry]:
    """The newest entry of `action` for each of these records (who verified each expert, when)."""
    if not entity_ids:
        return {}
    newest = (
        select(func.max(AuditEntry.id))
        .where(
            AuditEntry.entity_type == entity_type,
            AuditEntry.action == action,
            col(AuditEntry.entity_id).in_(entity_ids),
        )
        .group_by(AuditEntry.entity_id)
    )
    rows = session.exec(select(AuditEntry).where(col(AuditEntry.id).in_(newest))).all()
    return {row.entity_id: row for row in rows}


def known_actions(*, session: Session) -> list[str]:
    """Every action code the log holds."""
    return sorted(session.exec(select(AuditEntry.action).distinct()).all())


def known_entity_types(*, session: Session) -> list[str]:
    """Every record type the log holds."""
    return sorted(session.exec(select(AuditEntry.entity_type).distinct()).all())


def record_read(*, session: Session, actor: Actor, entity_type: str, entity_id: str) -> None:
    """Note that `actor` opened a record that is not their own (who read what, for privacy).

    Written after the read, through the write queue (write_later), so a read never writes in
    its read transaction.
    """
    at = utcnow()

    def write(target: Session) -> None:
        entry = record(
            session=target,
            actor=actor,
            action=f"{entity_type}.read",
            entity_type=entity_type,
            entity_id=str(entity_id),
        )
        entry.at = at

    write_later(session, write)
