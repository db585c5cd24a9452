"""The audit log as people read it: who did what to which record, in words, with a link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from booking.sessions.models import Booking
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.applications.models import ServiceApplication
from marketplace.audit.labels import action_label, entity_label
from marketplace.audit.models import AuditEntry
from marketplace.clock import in_zone
from marketplace.districts.models import District
from marketplace.experts.models import Expert
from marketplace.resources.models import Resource
from marketplace.services.models import ProcuredService
from marketplace.vocabulary import Role
from matching.models import MatchRun
from web.request_names import request_names

# Where each record type is shown; None when it has no page of its own.
_RECORD_PAGES = {
    "application": "/applications#application-{id}",
    "booking": "/bookings#booking-{id}",
    "district_request": "/requests/{id}",
    "expert": "/experts/{id}",
    "match_run": "/matching/runs/{id}",
    "resource": "/library/{id}",
    "service": "/services#service-{id}",
    "job": "/admin/jobs",
}
_ADMIN_ONLY = {"user": "/users/{id}", "job": "/admin/jobs"}
# Records named by a column of their own row: (id column, name column).
_TITLED: dict[str, tuple[Any, Any]] = {
    "user": (User.id, User.display_name),
    "booking": (Booking.id, Booking.title),
    "service": (ProcuredService.id, ProcuredService.name),
    "resource": (Resource.id, Resource.title),
}


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    action: str
    action_label: str
    entity_type: str
    entity_label: str
    entity_id: str
    link: str | None
    before: dict | None
    after: dict | None
    name: str = ""  # the record's name (an expert's, a request's text), "" when it has none
    actor_name: str = ""  # the acting account's display name, "" for the system or unknown


def record_link(entity_type: str, entity_id: str, viewer: User | None) -> str | None:
    """The page showing this record to `viewer`, if there is one."""
    template = _RECORD_PAGES.get(entity_type)
    if entity_type in _ADMIN_ONLY:
        template = (
            _ADMIN_ONLY[entity_type]
            if viewer is not None and viewer.role == Role.admin.value
            else None
        )
    if template is None or not entity_id:
        return None
    return template.format(id=entity_id)


def _record_names(
    session: Session, entries: list[AuditEntry], viewer: User | None
) -> dict[tuple[str, str], str]:
    """Names for the records people look for by name: experts, district requests, accounts,
    bookings, services, applications, library resources and batch runs (by when they ran, as
    the matching page names them)."""
    wanted: dict[str, set[str]] = {
        "expert": set(),
        "district_request": set(),
        "match_run": set(),
        "application": set(),
        **{entity: set() for entity in _TITLED},
    }
    for e in entries:
        if e.entity_type in wanted and e.entity_id:
            wanted[e.entity_type].add(e.entity_id)
    names: dict[tuple[str, str], str] = {}
    if wanted["expert"]:
        found = select(Expert.id, Expert.name).where(col(Expert.id).in_(wanted["expert"]))
        names |= {("expert", i): n for i, n in session.exec(found)}
    for entity, (key, title) in _TITLED.items():
        ids = [int(i) for i in wanted[entity] if i.isdigit() and len(i) < 10]
        if ids:
            rows = session.exec(select(key, title).where(col(key).in_(ids)))
            names |= {(entity, str(i)): n for i, n in rows if n}
    if wanted["application"]:
        names |= _application_names(session, wanted["application"])
    zone = getattr(viewer, "timezone", "") or ""
    run_ids = [int(i) for i in wanted["match_run"] if i.isdigit() and len(i) < 10]
    if run_ids:
        runs = select(MatchRun.id, MatchRun.created_at).where(col(MatchRun.id).in_(run_ids))
        for i, at in session.exec(runs):
            ran = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            names[("match_run", str(i))] = messages.MATCH_RUN_NAME.format(
                at=in_zone(ran, zone, "%Y-%m-%d %H:%M")
            )
    request_ids = [int(i) for i in wanted["district_request"] if i.isdigit() and len(i) < 10]
    for i, n in request_names(session=session, request_ids=request_ids, zone=zone).items():
        names[("district_request", str(i))] = n
    return names


def _application_names(session: Session, wanted: set[str]) -> dict[tuple[str, str], str]:
    """An application is named by the service it asks for and the district asking."""
    ids = [int(i) for i in wanted if i.isdigit() and len(i) < 10]
    if not ids:
        return {}
    rows = session.exec(
        select(ServiceApplication.id, ProcuredService.name, District.name)
        .join(ProcuredService, col(ProcuredService.id) == col(ServiceApplication.service_id))
        .join(District, col(District.id) == col(ServiceApplication.district_id))
        .where(col(ServiceApplication.id).in_(ids))
    )
    return {("application", str(i)): f"{service} · {district}" for i, service, district in rows}


def _display_names(session: Session, entries: list[AuditEntry]) -> dict[str, str]:
    """Display names of the accounts that acted (the log stores their usernames)."""
    usernames = {e.actor for e in entries if e.actor}
    if not usernames:
        return {}
    found = select(User.username, User.display_name).where(col(User.username).in_(usernames))
    return {u: d for u, d in session.exec(found) if d and d != u}


def describe(
    entries: list[AuditEntry], viewer: User | None, *, session: Session | None = None
) -> list[AuditLine]:
    """The entries in words; with a session, experts and requests are named, not numbered."""
    names = _record_names(session, entries, viewer) if session is not None else {}
    people = _display_names(session, entries) if session is not None else {}
    return [
        AuditLine(
            id=e.id or 0,
            at=e.at,
            actor=e.actor,
            action=e.action,
            action_label=action_label(e.action),
            entity_type=e.entity_type,
            entity_label=entity_label(e.entity_type),
            entity_id=e.entity_id,
            link=record_link(e.entity_type, e.entity_id, viewer),
            before=e.before,
            after=e.after,
            name=names.get((e.entity_type, e.entity_id), ""),
            actor_name=people.get(e.actor, ""),
        )
        for e in entries
    ]
