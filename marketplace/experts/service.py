"""Expert records: create, update, status, look-up, listing, and the import-format view."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, cast, exists, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, func, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can, covers_expert, require
from marketplace.accounts.principal import actor_for
from marketplace.audit.service import record
from marketplace.clock import utcnow
from marketplace.districts.models import City, District
from marketplace.districts.service import RegionIndex, regions_by_id
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.experts.models import (
    Expert,
    ExpertAdminUpdate,
    ExpertCreate,
    ExpertPublic,
    ExpertRecord,
    ExpertSpecialty,
    ExpertUpdate,
    RegionRef,
)
from marketplace.organizations.models import Organization
from marketplace.outbox.service import enqueue
from marketplace.specialties.models import Specialty
from marketplace.specialties.service import ensure_specialties
from marketplace.vocabulary import Domain, ExpertStatus, Format, ServiceType

MAX_PAGE_SIZE = 100


@dataclass
class ExpertFilters:
    domain: str | None = None
    specialty: str | None = None
    city: str | None = None
    district: str | None = None
    format: str | None = None
    service_type: str | None = None
    status: str | None = None
    name: str | None = None
    language: str | None = None
    verified: bool | None = None
    district_ids: frozenset[int] | None = None  # None: every district (a regional reach)
    ids: frozenset[str] | None = None  # only these experts (e.g. those with free time)


# Orders of the expert-pool console: key -> (label, ORDER BY). Newest changes first by default,
# so an expert just added or edited is at the top.
POOL_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "updated": ("最近更新", (col(Expert.updated_at).desc(), col(Expert.id))),
    "name": ("姓名", (col(Expert.name), col(Expert.id))),
    "id": ("编号", (col(Expert.id),)),
    "unverified": (
        "未认证在前",
        (col(Expert.verified), col(Expert.updated_at).desc(), col(Expert.id)),
    ),
}


def get_expert(*, session: Session, expert_id: str) -> Expert:
    """The expert with this id, or NotFound."""
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(messages.EXPERT_NOT_FOUND.format(id=expert_id))
    return expert


def public_views(*, session: Session, experts: list[Expert]) -> list[ExpertPublic]:
    """Experts in the public/import shape, loaded with a fixed number of queries."""
    if not experts:
        return []
    ids = [e.id for e in experts]
    specialty_rows = session.exec(
        select(ExpertSpecialty.expert_id, Specialty.name)
        .join(Specialty, col(Specialty.id) == col(ExpertSpecialty.specialty_id))
        .where(col(ExpertSpecialty.expert_id).in_(ids))
        .order_by(col(ExpertSpecialty.expert_id), col(ExpertSpecialty.position))
    ).all()
    specialties: dict[str, list[str]] = {}
    for expert_id, name in specialty_rows:
        specialties.setdefault(expert_id, []).append(name)
    org_ids = {e.organization_id for e in experts if e.organization_id is not None}
    organizations = {
        o.id: o.name
        for o in session.exec(select(Organization).where(col(Organization.id).in_(org_ids))).all()
    }
    regions = regions_by_id(session=session, district_ids={e.district_id for e in experts})
    views = []
    # Rows were validated when written: reading them back builds the views without validating
    # again (a rebuild reads 100k experts; a stored value that a newer rule refuses must still
    # be shown, not turned into a server error).
    for e in experts:
        names = regions[e.district_id]
        views.append(
            ExpertPublic.model_construct(
                id=e.id,
                name=e.name,
                domain=Domain(e.domain),
                title=e.title,
                organization=organizations.get(e.organization_id, ""),
                region=RegionRef.model_construct(
                    province=names.province, city=names.city, district=names.district
                ),
                specialties=specialties.get(e.id, []),
                bio=e.bio,
                certifications=e.certifications,
                formats=[Format(f) for f in e.formats],
                service_types=[ServiceType(t) for t in e.service_types],
                languages=e.languages,
                years_experience=e.years_experience,
                monthly_capacity_hours=e.monthly_capacity_hours,
                status=ExpertStatus(e.status),
                verified=e.verified,
                updated_at=e.updated_at,
            )
        )
    return views


def public_view(*, session: Session, expert: Expert) -> ExpertPublic:
    return public_views(session=session, experts=[expert])[0]


def json_list_contains(column: Any, value: str, dialect: str) -> ColumnElement[bool]:
    """`value` is an element of the JSON list in `column`: real JSON containment on PostgreSQL
    (jsonb @>), json_each on SQLite, so escaped non-ASCII values (普通话) are found too."""
    if dialect == "postgresql":
        return cast(column, JSONB).contains([value])
    elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == value))


def list_experts(
    *,
    session: Session,
    filters: ExpertFilters,
    page: int = 1,
    page_size: int = 20,
    sort: str = "id",
) -> tuple[list[ExpertPublic], int]:
    """A page of experts matching the filters (in id order, or a POOL_SORTS order), with the
    total count."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    query = _filtered(session, filters)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    experts = session.exec(
        query.order_by(*POOL_SORTS.get(sort, POOL_SORTS["id"])[1])
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return public_views(session=session, experts=list(experts)), total


def iter_experts(
    *, session: Session, filters: ExpertFilters, sort: str = "id", batch_size: int = 500
) -> Iterator[ExpertPublic]:
    """Every expert matching the filters, in the chosen order, loaded a batch at a time."""
    query = _filtered(session, filters).order_by(*POOL_SORTS.get(sort, POOL_SORTS["id"])[1])
    offset = 0
    while True:
        batch = session.exec(query.offset(offset).limit(batch_size)).all()
        if not batch:
            return
        yield from public_views(session=session, experts=list(batch))
        offset += batch_size


def _filtered(session: Session, filters: ExpertFilters) -> Any:
    query = select(Expert)
    if filters.city or filters.district:
        query = query.join(District, col(District.id) == col(Expert.district_id)).join(
            City, col(City.id) == col(District.city_id)
        )
        if filters.city:
            query = query.where(City.name == filters.city)
        if filters.district:
            query = query.where(District.name == filters.district)
    if filters.domain:
        query = query.where(Expert.domain == filters.domain)
    if filters.status:
        query = query.where(Expert.status == filters.status)
    dialect = session.get_bind().dialect.name
    for column, value in (
        (Expert.formats, filters.format),
        (Expert.service_types, filters.service_type),
        (Expert.languages, filters.language),
    ):
        if value:
            query = query.where(json_list_contains(column, value, dialect))
    if filters.name:
        query = query.where(col(Expert.name).contains(filters.name))
    if filters.specialty:
        query = query.where(
            col(Expert.id).in_(
                select(ExpertSpecialty.expert_id)
                .join(Specialty, col(Specialty.id) == col(ExpertSpecialty.specialty_id))
                .where(Specialty.name == filters.specialty)
            )
        )
    if filters.verified is not None:
        query = query.where(Expert.verified == filters.verified)
    if filters.district_ids is not None:
        query = query.where(col(Expert.district_id).in_(sorted(filters.district_ids)))
    if filters.ids is not None:
        query = query.where(col(Expert.id).in_(sorted(filters.ids)))
    return query


class _Lookups:
    """Caches of regions and organizations for a run of writes."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.regions = RegionIndex(session)
        self._orgs: dict[str, int] = {}

    def organization_id(self, name: str, district_id: int) -> int:
        if name not in self._orgs:
            org = self.session.exec(select(Organization).where(Organization.name == name)).first()
            if org is None:
                org = Organization(name=name, district_id=district_id)
                self.session.add(org)
                self.session.flush()
            assert org.id is not None
            self._orgs[name] = org.id
        return self._orgs[name]


def _apply(session: Session, lookups: _Lookups, expert: Expert, data: dict, *, domain: str) -> None:
    """Copy validated import-format fields onto the row (added to the session), resolving names."""
    region = data.pop("region", None)
    organization = data.pop("organization", None)
    specialties = data.pop("specialties", None)
    for key, value in data.items():
        setattr(expert, key, value)
    if region is not None:
        expert.district_id = lookups.regions.district_id(
            region["province"], region["city"], region["district"]
        )
    if organization is not None:
        expert.organization_id = lookups.organization_id(organization, expert.district_id)
    session.add(expert)
    session.flush()
    if specialties is not None:
        ids = ensure_specialties(session=session, names=specialties, domain=domain)
        existing = session.exec(
            select(ExpertSpecialty).where(ExpertSpecialty.expert_id == expert.id)
        ).all()
        for row in existing:
            session.delete(row)
        session.flush()
        for position, name in enumerate(specialties):
            session.add(
                ExpertSpecialty(expert_id=expert.id, specialty_id=ids[name], position=position)
            )


def _snapshot(session: Session, expert: Expert) -> dict:
    view = public_view(session=session, expert=expert)
    return view.model_dump(mode="json", exclude={"updated_at"})


def _next_expert_id(session: Session) -> str:
    count = session.exec(select(func.count()).select_from(Expert)).one()
    candidate = count + 1
    while session.get(Expert, f"E{candidate:06d}") is not None:
        candidate += 1
    return f"E{candidate:06d}"


def create_expert(*, session: Session, data: ExpertCreate, user: User) -> Expert:
    """Add a new expert (whoever may manage experts); the id is generated when not given."""
    require(user, Action.expert_manage)
    expert_id = data.id or _next_expert_id(session)
    if session.get(Expert, expert_id) is not None:
        raise Conflict(messages.EXPERT_EXISTS.format(id=expert_id))
    fields = data.model_dump(mode="json", exclude={"id"})
    lookups = _Lookups(session)
    expert = Expert(
        id=expert_id,
        name=data.name,
        domain=data.domain.value,
        district_id=lookups.regions.district_id(**fields["region"]),
    )
    _apply(session, lookups, expert, fields, domain=data.domain.value)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="expert.create",
        entity_type="expert",
        entity_id=expert.id,
        after=_snapshot(session, expert),
    )
    enqueue(session=session, entity_type="expert", entity_id=expert.id)
    return expert


def require_expert_edit(
    *, user: User, expert_id: str, data: ExpertUpdate | ExpertAdminUpdate
) -> None:
    """Forbidden unless `user` may make these changes: whoever manages experts any field, an
    expert the profile fields of their own record (not its status or verification)."""
    if can(user, Action.expert_manage):
        return
    if not covers_expert(user, Action.expert_edit, expert_id=expert_id):
        raise Forbidden(messages.FORBIDDEN, code="forbidden")
    if isinstance(data, ExpertAdminUpdate) and (
        data.status is not None or data.verified is not None
    ):
        raise Forbidden(messages.EXPERT_OWN_STATUS, code="own_status", field="status")


def update_expert(
    *, session: Session, expert_id: str, data: ExpertUpdate | ExpertAdminUpdate, user: User
) -> Expert:
    """Change some fields of an expert (see `require_expert_edit` for who may change which);
    unchanged input writes nothing."""
    require_expert_edit(user=user, expert_id=expert_id, data=data)
    expert = get_expert(session=session, expert_id=expert_id)
    before = _snapshot(session, expert)
    changes = data.model_dump(mode="json", exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return expert
    _apply(
        session,
        _Lookups(session),
        expert,
        dict(changes),
        domain=changes.get("domain", expert.domain),
    )
    session.flush()
    after = _snapshot(session, expert)
    if after == before:
        return expert
    expert.updated_at = utcnow()
    session.add(expert)
    record(
        session=session,
        actor=actor_for(user),
        action="expert.update",
        entity_type="expert",
        entity_id=expert.id,
        before=before,
        after=after,
    )
    enqueue(session=session, entity_type="expert", entity_id=expert.id)
    return expert


def upsert_record(
    *, session: Session, rec: ExpertRecord, user: User, lookups: _Lookups | None = None
) -> str:
    """Insert or update one import record (whoever may manage experts); returns "created",
    "updated" or "unchanged"."""
    require(user, Action.expert_manage)
    actor = actor_for(user)
    lookups = lookups or _Lookups(session)
    fields = rec.model_dump(mode="json", exclude={"id"})
    district_id = lookups.regions.district_id(**fields["region"])
    expert = session.get(Expert, rec.id)
    if expert is None:
        expert = Expert(id=rec.id, name=rec.name, domain=rec.domain.value, district_id=district_id)
        _apply(session, lookups, expert, fields, domain=rec.domain.value)
        session.flush()
        record(
            session=session,
            actor=actor,
            action="expert.import.create",
            entity_type="expert",
            entity_id=rec.id,
            after=rec.to_json_dict(),
        )
        enqueue(session=session, entity_type="expert", entity_id=rec.id)
        return "created"
    snapshot = _snapshot(session, expert)  # the record's fields and status, verified
    before = ExpertRecord.model_validate(
        {name: snapshot[name] for name in ExpertRecord.model_fields}
    ).to_json_dict()
    after = rec.to_json_dict()
    if before == after:
        return "unchanged"
    _apply(session, lookups, expert, fields, domain=rec.domain.value)
    expert.updated_at = utcnow()
    session.add(expert)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="expert.import.update",
        entity_type="expert",
        entity_id=rec.id,
        before=before,
        after=after,
    )
    enqueue(session=session, entity_type="expert", entity_id=rec.id)
    return "updated"


def make_lookups(session: Session) -> _Lookups:
    return _Lookups(session)


def export_records(*, session: Session, batch_size: int = 500) -> Iterator[dict]:
    """Every expert in the import format, in id order. Pages are id ranges (each one indexed
    read, however deep into a 100k directory), and rows are not validated again on the way
    out: they were when written (a rebuild reads the whole directory this way)."""
    after = ""
    while True:
        batch = session.exec(
            select(Expert).where(col(Expert.id) > after).order_by(Expert.id).limit(batch_size)
        ).all()
        if not batch:
            return
        for view in public_views(session=session, experts=list(batch)):
            fields = {name: getattr(view, name) for name in ExpertRecord.model_fields}
            yield ExpertRecord.model_construct(**fields).to_json_dict()
        after = batch[-1].id


def need_model_records(*, session: Session) -> list[dict]:
    """What the search need model reads of every expert, in id order: id, name, title,
    organisation, bio and specialties (in the expert's order), the same values export_records
    gives. Plain column rows, no ORM objects or views: a rebuild reads 100k experts this way
    in about 2 s instead of about 10."""
    rows = session.exec(
        select(Expert.id, Expert.name, Expert.title, Expert.bio).order_by(col(Expert.id))
    ).all()
    organizations = dict(
        session.exec(
            select(Expert.id, Organization.name).join(
                Organization, col(Organization.id) == col(Expert.organization_id)
            )
        ).all()
    )
    specialties: dict[str, list[str]] = {}
    for expert_id, name in session.exec(
        select(ExpertSpecialty.expert_id, Specialty.name)
        .join(Specialty, col(Specialty.id) == col(ExpertSpecialty.specialty_id))
        .order_by(col(ExpertSpecialty.expert_id), col(ExpertSpecialty.position))
    ):
        specialties.setdefault(expert_id, []).append(name)
    return [
        {
            "id": expert_id,
            "name": name,
            "title": title,
            "organization": organizations.get(expert_id, ""),
            "bio": bio,
            "specialties": specialties.get(expert_id, []),
        }
        for expert_id, name, title, bio in rows
    ]


def count_experts(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Expert)).one()
