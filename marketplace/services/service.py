"""The catalogue of procured services: create, update, delete, eligibility and listing."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, covers_center, require, user_center
from marketplace.accounts.principal import actor_for
from marketplace.allocation.balances import Totals, ledger_totals
from marketplace.applications.models import ServiceApplication
from marketplace.audit.service import record, save_and_record
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import center_district_ids, province_center
from marketplace.centers.service import label as center_label
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.districts.models import District, Zone
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.outbox.service import enqueue
from marketplace.services.models import (
    ProcuredService,
    ServiceCreate,
    ServiceKind,
    ServicePublic,
    ServiceUpdate,
)
from marketplace.services.quantity import format_quantity, from_hundredths, to_hundredths


def today() -> date:
    """Today's date in the hub's time zone (validity periods are local dates)."""
    return utcnow().astimezone(LOCAL_TZ).date()


def get_service(*, session: Session, service_id: int) -> ProcuredService:
    """The service with this id, or NotFound."""
    service = session.get(ProcuredService, service_id)
    if service is None:
        raise NotFound(messages.SERVICE_NOT_FOUND.format(id=service_id))
    return service


def lock_service(*, session: Session, service_id: int) -> ProcuredService:
    """The service row, locked until the transaction ends (FOR UPDATE; SQLite: one writer)."""
    service = session.exec(
        select(ProcuredService)
        .where(ProcuredService.id == service_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if service is None:
        raise NotFound(messages.SERVICE_NOT_FOUND.format(id=service_id))
    return service


def is_eligible(service: ProcuredService, district: District) -> bool:
    """Whether a district may apply: open to all, or listed, or in a listed zone."""
    if not service.eligible_district_ids and not service.eligible_zone_ids:
        return True
    return district.id in service.eligible_district_ids or (
        district.zone_id is not None and district.zone_id in service.eligible_zone_ids
    )


def is_valid_on(service: ProcuredService, day: date) -> bool:
    return service.valid_from <= day <= service.valid_to


def _check_scope(session: Session, district_ids: list[int], zone_ids: list[int]) -> None:
    if district_ids:
        known = set(
            session.exec(select(District.id).where(col(District.id).in_(district_ids))).all()
        )
        missing = sorted(set(district_ids) - known)
        if missing:
            raise InvalidInput(messages.SERVICE_UNKNOWN_DISTRICTS.format(ids=missing))
    if zone_ids:
        known = set(session.exec(select(Zone.id).where(col(Zone.id).in_(zone_ids))).all())
        missing = sorted(set(zone_ids) - known)
        if missing:
            raise InvalidInput(messages.SERVICE_UNKNOWN_ZONES.format(ids=missing))


def _snapshot(service: ProcuredService) -> dict:
    return {
        "name": service.name,
        "kind": service.kind,
        "vendor": service.vendor,
        "unit": service.unit,
        "quantity": from_hundredths(service.quantity_hundredths),
        "valid_from": service.valid_from.isoformat(),
        "valid_to": service.valid_to.isoformat(),
        "eligible_district_ids": list(service.eligible_district_ids),
        "eligible_zone_ids": list(service.eligible_zone_ids),
        "description": service.description,
    }


def _owning_center(session: Session, user: User) -> ResourceCenter | None:
    """The center a new service belongs to: a city staff member's own center; the province
    center for province staff, admins and the system principal. Forbidden for anyone else."""
    if require(user, Action.service_manage) is Scope.region:
        return user_center(session, user)
    return province_center(session=session)


def _check_region(
    session: Session, center: ResourceCenter | None, district_ids: list[int], zone_ids: list[int]
) -> None:
    """A city center's services are for its own districts and zones only."""
    if center is None or center.city_id is None:
        return
    inside = center_district_ids(session=session, center=center)
    zones = set(session.exec(select(Zone.id).where(Zone.city_id == center.city_id)).all())
    if not set(district_ids) <= inside or not set(zone_ids) <= zones:
        raise Forbidden(
            messages.CENTER_OUTSIDE_REGION, code="outside_region", field="eligible_district_ids"
        )


def create_service(*, session: Session, data: ServiceCreate, user: User) -> ProcuredService:
    """Add a procured service to the catalogue of the acting user's center (the province
    center's for province staff and the system principal). A city center's service is open to
    the city's districts unless narrowed."""
    center = _owning_center(session, user)
    district_ids = sorted(set(data.eligible_district_ids))
    zone_ids = sorted(set(data.eligible_zone_ids))
    _check_scope(session, district_ids, zone_ids)
    _check_region(session, center, district_ids, zone_ids)
    if center is not None and center.city_id is not None and not (district_ids or zone_ids):
        district_ids = sorted(center_district_ids(session=session, center=center))
    service = ProcuredService(
        center_id=None if center is None else center.id,
        name=data.name,
        kind=data.kind.value,
        vendor=data.vendor,
        unit=data.unit,
        quantity_hundredths=to_hundredths(data.quantity),
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        eligible_district_ids=district_ids,
        eligible_zone_ids=zone_ids,
        description=data.description,
    )
    save_and_record(
        session=session,
        row=service,
        actor=actor_for(user),
        action="service.create",
        entity_type="service",
        after=_snapshot(service),
    )
    enqueue(session=session, entity_type="service", entity_id=str(service.id))
    return service


def require_own_service(
    *, session: Session, user: User, service: ProcuredService, action: Action
) -> None:
    """Forbidden unless `user` may do `action` on the service: staff with scope `all` (and the
    system principal) on every service, city staff on their own center's services."""
    require(user, action)
    center_id = service.center_id
    if center_id is None:
        center = province_center(session=session)
        center_id = None if center is None else center.id
    if not covers_center(session, user, action, center_id=center_id):
        raise Forbidden(messages.CENTER_FOREIGN, code="foreign_center")


def manages(*, session: Session, user: User, service: ProcuredService) -> bool:
    """Whether `user` may manage `service` (province staff any, city staff their center's)."""
    try:
        require_own_service(
            session=session, user=user, service=service, action=Action.service_manage
        )
    except Forbidden:
        return False
    return True


def require_readable(*, session: Session, user: User, service: ProcuredService) -> None:
    """Forbidden unless `user` may see the service: everything for scope `all`; their own and
    the province center's services for a region; for a district, services it may apply for or
    has applied for."""
    scope = require(user, Action.service_read)
    if scope is Scope.all:
        return
    if scope is Scope.region:
        center = province_center(session=session)
        if service.center_id in (None, user.center_id, None if center is None else center.id):
            return
        raise Forbidden(messages.CENTER_FOREIGN, code="foreign_center")
    district = session.get(District, user.district_id)
    applied = session.exec(
        select(ServiceApplication.id).where(
            ServiceApplication.service_id == service.id,
            ServiceApplication.district_id == user.district_id,
        )
    ).first()
    if district is None or not (is_eligible(service, district) or applied is not None):
        raise Forbidden(messages.SERVICE_NOT_ELIGIBLE, code="not_eligible")


def update_service(
    *,
    session: Session,
    service_id: int,
    data: ServiceUpdate,
    user: User,
) -> ProcuredService:
    """Change catalogue fields; the quantity bought never drops below what is already committed."""
    changes = data.model_dump(exclude_unset=True)
    service = (
        lock_service(session=session, service_id=service_id)
        if "quantity" in changes
        else get_service(session=session, service_id=service_id)
    )
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    before = _snapshot(service)
    for key in ("eligible_district_ids", "eligible_zone_ids"):
        if key in changes:
            changes[key] = sorted(set(changes[key] or []))
    _check_scope(
        session, changes.get("eligible_district_ids") or [], changes.get("eligible_zone_ids") or []
    )
    center = None if service.center_id is None else session.get(ResourceCenter, service.center_id)
    _check_region(
        session,
        center,
        changes.get("eligible_district_ids") or [],
        changes.get("eligible_zone_ids") or [],
    )
    if "quantity" in changes:
        if changes["quantity"] is None:
            raise InvalidInput(messages.VALIDATION_FAILED)
        new_quantity = to_hundredths(changes.pop("quantity"))
        committed = (
            pool_totals(session=session, service_ids=[service_id])
            .get(service_id, Totals())
            .committed
        )
        if new_quantity < committed:
            raise Conflict(
                messages.SERVICE_QUANTITY_BELOW_ALLOCATED.format(
                    used=format_quantity(committed), unit=service.unit
                ),
                code="below_allocated",
                field="quantity",
            )
        service.quantity_hundredths = new_quantity
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{messages.VALIDATION_FAILED}：字段 {key} 不能为空")
        setattr(service, key, value.value if isinstance(value, ServiceKind) else value)
    if service.valid_from > service.valid_to:
        raise InvalidInput(messages.SERVICE_VALIDITY_INVALID, code="validity", field="valid_to")
    after = _snapshot(service)
    if after != before:
        service.updated_at = utcnow()
        save_and_record(
            session=session,
            row=service,
            actor=actor_for(user),
            action="service.update",
            entity_type="service",
            before=before,
            after=after,
        )
        enqueue(session=session, entity_type="service", entity_id=str(service.id))
    return service


def delete_service(*, session: Session, service_id: int, user: User) -> None:
    """Remove a service nobody has applied for (otherwise its history must stay)."""
    service = lock_service(session=session, service_id=service_id)
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    has_applications = session.exec(
        select(ServiceApplication.id).where(ServiceApplication.service_id == service_id).limit(1)
    ).first()
    if has_applications is not None:
        raise Conflict(messages.SERVICE_HAS_APPLICATIONS, code="has_applications")
    before = _snapshot(service)
    session.delete(service)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="service.delete",
        entity_type="service",
        entity_id=str(service_id),
        before=before,
    )
    enqueue(session=session, entity_type="service", entity_id=str(service_id), operation="delete")


def pool_totals(*, session: Session, service_ids: list[int]) -> dict[int, Totals]:
    """Ledger sums per service."""
    return ledger_totals(session=session, by="service", service_ids=service_ids)


def list_services(
    *,
    session: Session,
    kind: ServiceKind | None = None,
    eligible_for: District | None = None,
    valid_on: date | None = None,
    user: User,
) -> list[ProcuredService]:
    """The services `user` may see, in id order, optionally of one kind, valid on a day, or open
    to one district: every service for scope `all`; for a regional scope (city staff,
    observers) those of their own center and the province center's."""
    query = select(ProcuredService).order_by(col(ProcuredService.id))
    if require(user, Action.service_read) is Scope.region:
        center = province_center(session=session)
        own = [user.center_id] + ([center.id] if center is not None else [])
        query = query.where(
            col(ProcuredService.center_id).in_(own) | col(ProcuredService.center_id).is_(None)
        )
    if kind is not None:
        query = query.where(ProcuredService.kind == kind.value)
    if valid_on is not None:
        query = query.where(
            ProcuredService.valid_from <= valid_on, ProcuredService.valid_to >= valid_on
        )
    services = list(session.exec(query).all())
    if eligible_for is not None:
        services = [s for s in services if is_eligible(s, eligible_for)]
    return services


def public_views(*, session: Session, services: list[ProcuredService]) -> list[ServicePublic]:
    """Services with their ledger-derived quantities, in one query."""
    totals = pool_totals(session=session, service_ids=[s.id for s in services if s.id is not None])
    centers = {c.id: c for c in session.exec(select(ResourceCenter)).all()}
    day = today()
    views = []
    for s in services:
        assert s.id is not None
        t = totals.get(s.id, Totals())
        center = centers.get(s.center_id)
        views.append(
            ServicePublic(
                id=s.id,
                center_id=s.center_id,
                center_label=center_label(center) if center else messages.CENTER_PROVINCE,
                name=s.name,
                kind=ServiceKind(s.kind),
                vendor=s.vendor,
                unit=s.unit,
                quantity=from_hundredths(s.quantity_hundredths),
                valid_from=s.valid_from,
                valid_to=s.valid_to,
                eligible_district_ids=list(s.eligible_district_ids),
                eligible_zone_ids=list(s.eligible_zone_ids),
                description=s.description,
                remaining_quantity=from_hundredths(t.remaining(s.quantity_hundredths)),
                allocated_quantity=from_hundredths(t.committed),
                consumed_quantity=from_hundredths(t.consumed),
                expired_quantity=from_hundredths(t.expired),
                is_valid_today=is_valid_on(s, day),
                updated_at=s.updated_at,
            )
        )
    return views


def public_view(*, session: Session, service: ProcuredService) -> ServicePublic:
    return public_views(session=session, services=[service])[0]
