"""District applications: submit, list, withdraw, reject (approval lives in allocation)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, reach, require, require_district
from marketplace.accounts.principal import actor_for
from marketplace.allocation.balances import Totals, ledger_totals
from marketplace.applications.models import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationStatus,
    ServiceApplication,
)
from marketplace.audit.service import Actor, save_and_record
from marketplace.centers.service import province_center
from marketplace.clock import utcnow
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.ids import stored_id
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients, settle
from marketplace.services.models import ProcuredService
from marketplace.services.quantity import from_hundredths, to_hundredths
from marketplace.services.service import get_service, is_eligible, require_own_service, today


def snapshot(application: ServiceApplication) -> dict:
    """The audited fields of an application."""
    return {
        "service_id": application.service_id,
        "district_id": application.district_id,
        "quantity": from_hundredths(application.quantity_hundredths),
        "status": application.status,
        "approved_quantity": (
            None
            if application.approved_hundredths is None
            else from_hundredths(application.approved_hundredths)
        ),
        "rejection_reason": application.rejection_reason,
    }


def status_label(status: str) -> str:
    return messages.APPLICATION_STATUS_LABELS.get(status, status)


def get_application(
    *,
    session: Session,
    application_id: int,
    user: User,
    action: Action = Action.application_read,
) -> ServiceApplication:
    """The application, or NotFound; Forbidden unless the policy lets `user` do `action` on it
    (its district in their reach; for decisions, the service is their own center's)."""
    application = session.get(ServiceApplication, application_id)
    if application is None:
        raise NotFound(messages.APPLICATION_NOT_FOUND.format(id=application_id))
    require_district(session, user, action, district_id=application.district_id)
    if action is Action.application_decide:
        service = get_service(session=session, service_id=application.service_id)
        require_own_service(session=session, user=user, service=service, action=action)
    return application


def lock_application(*, session: Session, application_id: int) -> ServiceApplication:
    """The application row, locked and freshly read (take the service lock first, if any)."""
    application = session.exec(
        select(ServiceApplication)
        .where(ServiceApplication.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if application is None:
        raise NotFound(messages.APPLICATION_NOT_FOUND.format(id=application_id))
    return application


def create_application(
    *, session: Session, data: ApplicationCreate, user: User, district_id: int | None = None
) -> ServiceApplication:
    """Submit a district's application for a valid service it is eligible for: a coordinator
    for their own district; the system principal (demo seeding) names `district_id`."""
    require(user, Action.application_file)
    district_id = user.district_id if district_id is None else district_id
    if district_id is None:
        raise Forbidden(messages.NEEDS_DISTRICT_ACCOUNT, code="forbidden")
    require_district(session, user, Action.application_file, district_id=district_id)
    actor = actor_for(user)
    service = get_service(session=session, service_id=data.service_id)
    district = session.get(District, district_id)
    if district is None:
        raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=district_id))
    if service.valid_to < today():
        raise InvalidInput(messages.SERVICE_EXPIRED.format(valid_to=service.valid_to.isoformat()))
    if not is_eligible(service, district):
        raise Forbidden(messages.SERVICE_NOT_ELIGIBLE)
    application = ServiceApplication(
        service_id=stored_id(service),
        district_id=district_id,
        quantity_hundredths=to_hundredths(data.quantity),
        purpose=data.purpose,
        period_start=data.period_start,
        period_end=data.period_end,
        target_schools=data.target_schools,
        submitted_by=actor.label,
    )
    save_and_record(
        session=session,
        row=application,
        actor=actor,
        action="application.create",
        entity_type="application",
        after=snapshot(application),
    )
    # The staff of the center that owns the service decide it (a city center's own staff).
    notify(
        session=session,
        user_ids=recipients(session=session, staff_of_center=_owning_center(session, service)),
        kind=NotificationKind.application_submitted,
        title=messages.NOTIFY_APPLICATION_SUBMITTED.format(
            district=district.name, service=service.name
        ),
        link=f"/applications#application-{application.id}",
        dedupe_key=f"application:submitted:{application.id}",
    )
    return application


def settle_submitted_notice(*, session: Session, application: ServiceApplication) -> None:
    """Once anybody decided (or the district withdrew) an application, the 待审批 notice it sent
    to the deciding center's staff is settled for all of them, with the outcome in its title."""
    service = session.get(ProcuredService, application.service_id)
    district = session.get(District, application.district_id)
    settle(
        session=session,
        dedupe_key=f"application:submitted:{application.id}",
        title=messages.NOTIFY_APPLICATION_SETTLED.format(
            district=district.name if district else "",
            service=service.name if service else "",
            status=status_label(application.status),
        ),
    )


def _owning_center(session: Session, service: ProcuredService) -> int | None:
    if service.center_id is not None:
        return service.center_id
    center = province_center(session=session)
    return None if center is None else center.id


def withdraw_application(
    *, session: Session, application_id: int, user: User
) -> ServiceApplication:
    """Withdraw an application that is still waiting for a decision (the district's side)."""
    get_application(
        session=session, application_id=application_id, user=user, action=Action.application_use
    )
    application = lock_application(session=session, application_id=application_id)
    _require_pending(application)
    return _set_status(
        session, application, ApplicationStatus.withdrawn, actor_for(user), "application.withdraw"
    )


def reject_application(
    *,
    session: Session,
    application_id: int,
    reason: str,
    user: User,
) -> ServiceApplication:
    """Turn down a pending application with a reason the district will see, if the policy lets
    `user` decide it (the owning center's staff)."""
    get_application(
        session=session, application_id=application_id, user=user, action=Action.application_decide
    )
    application = lock_application(session=session, application_id=application_id)
    _require_pending(application)
    application.rejection_reason = reason
    rejected = _set_status(
        session, application, ApplicationStatus.rejected, actor_for(user), "application.reject"
    )
    service = session.get(ProcuredService, application.service_id)
    notify(
        session=session,
        user_ids=recipients(session=session, district_id=application.district_id),
        kind=NotificationKind.application_rejected,
        title=messages.NOTIFY_APPLICATION_REJECTED.format(
            service=service.name if service else "", reason=reason
        ),
        link=f"/applications#application-{application.id}",
        dedupe_key=f"application:decided:{application.id}",
    )
    return rejected


def _require_pending(application: ServiceApplication) -> None:
    if application.status != ApplicationStatus.submitted:
        raise Conflict(
            messages.APPLICATION_NOT_PENDING.format(status=status_label(application.status))
        )


def _set_status(
    session: Session,
    application: ServiceApplication,
    status: ApplicationStatus,
    actor: Actor,
    action: str,
) -> ServiceApplication:
    before = snapshot(application)
    application.status = status.value
    now = utcnow()
    application.updated_at = now
    if status in (ApplicationStatus.rejected, ApplicationStatus.approved):
        application.decided_at = now
        application.decided_by = actor.label
    save_and_record(
        session=session,
        row=application,
        actor=actor,
        action=action,
        entity_type="application",
        before=before,
        after=snapshot(application),
    )
    settle_submitted_notice(session=session, application=application)
    return application


def list_applications(
    *,
    session: Session,
    district_id: int | None = None,
    service_id: int | None = None,
    status: ApplicationStatus | None = None,
    user: User,
) -> list[ServiceApplication]:
    """The applications `user` may read (their districts' as the policy reaches), in submission
    order; `district_id` limits to one district's own."""
    query = select(ServiceApplication).order_by(col(ServiceApplication.id))
    districts = reach(session, user, Action.application_read)
    if districts is not None:
        query = query.where(col(ServiceApplication.district_id).in_(sorted(districts)))
    if district_id is not None:
        query = query.where(ServiceApplication.district_id == district_id)
    if service_id is not None:
        query = query.where(ServiceApplication.service_id == service_id)
    if status is not None:
        query = query.where(ServiceApplication.status == status.value)
    return list(session.exec(query).all())


def public_views(
    *, session: Session, applications: list[ServiceApplication]
) -> list[ApplicationPublic]:
    """Applications with service, district and ledger balance, in a fixed number of queries."""
    if not applications:
        return []
    service_ids = {a.service_id for a in applications}
    district_ids = {a.district_id for a in applications}
    services = {
        s.id: s
        for s in session.exec(
            select(ProcuredService).where(col(ProcuredService.id).in_(service_ids))
        )
    }
    districts = {
        d.id: d for d in session.exec(select(District).where(col(District.id).in_(district_ids)))
    }
    totals = ledger_totals(
        session=session,
        by="application",
        application_ids=[a.id for a in applications if a.id is not None],
    )
    views = []
    for a in applications:
        assert a.id is not None
        t = totals.get(a.id, Totals())
        approval = None
        if a.approved_hundredths is not None:
            approval = "full" if a.approved_hundredths >= a.quantity_hundredths else "partial"
        views.append(
            ApplicationPublic(
                id=a.id,
                service_id=a.service_id,
                service_name=services[a.service_id].name,
                unit=services[a.service_id].unit,
                district_id=a.district_id,
                district_name=districts[a.district_id].name,
                quantity=from_hundredths(a.quantity_hundredths),
                purpose=a.purpose,
                period_start=a.period_start,
                period_end=a.period_end,
                target_schools=list(a.target_schools),
                status=ApplicationStatus(a.status),
                approved_quantity=None
                if a.approved_hundredths is None
                else from_hundredths(a.approved_hundredths),
                approval=approval,
                balance=from_hundredths(t.held),
                used_quantity=from_hundredths(t.consumed),
                rejection_reason=a.rejection_reason,
                submitted_by=a.submitted_by,
                decided_by=a.decided_by,
                created_at=a.created_at,
                decided_at=a.decided_at,
            )
        )
    return views


def public_view(*, session: Session, application: ServiceApplication) -> ApplicationPublic:
    return public_views(session=session, applications=[application])[0]
