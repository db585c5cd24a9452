"""Allocation of procured services: approvals within the remaining quantity, use, release, expiry.

Every movement is a ledger entry (marketplace.allocation.models); balances are sums of the ledger.
Concurrency: each write first locks the service row (SELECT ... FOR UPDATE on PostgreSQL; on SQLite
the write transaction itself is exclusive, ideally begun with BEGIN IMMEDIATE, see
marketplace.db.serialized_write), then re-reads the ledger, so the remaining quantity is checked
against committed data and can never go below zero. Lock order is always service, then application.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, reach, sees_everything
from marketplace.accounts.principal import actor_for
from marketplace.allocation import fairness
from marketplace.allocation.balances import Totals, ledger_totals, reconciles
from marketplace.allocation.models import (
    ApplicationShare,
    ApprovalContext,
    DistrictBalance,
    DistrictProposalPublic,
    LedgerEntry,
    LedgerEntryPublic,
    LedgerKind,
    LedgerView,
    PoolBalance,
    ProposalPublic,
)
from marketplace.applications.models import HOLDING_STATUSES, ApplicationStatus, ServiceApplication
from marketplace.applications.service import (
    get_application,
    lock_application,
    settle_submitted_notice,
    snapshot,
    status_label,
)
from marketplace.audit.service import Actor, save_and_record
from marketplace.clock import utcnow
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.ids import stored_id
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients
from marketplace.reports.periods import term_of
from marketplace.services.models import ProcuredService, ServiceKind
from marketplace.services.quantity import (
    PER_STUDENTS,
    format_quantity,
    from_hundredths,
    to_hundredths,
)
from marketplace.services.service import (
    get_service,
    lock_service,
    manages,
    require_own_service,
    require_readable,
    today,
)

DECIDE = Action.application_decide


def _entry(
    session: Session,
    application: ServiceApplication,
    kind: LedgerKind,
    amount: int,
    actor: Actor,
    *,
    reference: str = "",
    note: str = "",
) -> LedgerEntry:
    entry = LedgerEntry(
        kind=kind.value,
        service_id=application.service_id,
        district_id=application.district_id,
        application_id=stored_id(application),
        hundredths=amount,
        reference=reference,
        actor=actor.label,
        note=note,
    )
    session.add(entry)
    return entry


def _service_totals(session: Session, service_id: int) -> Totals:
    return ledger_totals(session=session, by="service", service_ids=[service_id]).get(
        service_id, Totals()
    )


def _application_totals(session: Session, application_id: int) -> Totals:
    totals = ledger_totals(session=session, by="application", application_ids=[application_id])
    return totals.get(application_id, Totals())


def _charged(session: Session, reference: str, owner: ColumnElement[bool]) -> bool:
    """A consumption with this `reference` is on the ledger already (of the application or
    district `owner` names): recording usage twice charges once."""
    query = select(LedgerEntry.id).where(
        owner,
        LedgerEntry.kind == LedgerKind.consumption.value,
        LedgerEntry.reference == reference,
    )
    return session.exec(query).first() is not None


def _change_status(
    session: Session,
    application: ServiceApplication,
    before: dict,
    actor: Actor,
    action: str,
    **extra: object,
) -> None:
    application.updated_at = utcnow()
    save_and_record(
        session=session,
        row=application,
        actor=actor,
        action=action,
        entity_type="application",
        before=before,
        after={**snapshot(application), **extra},
    )


def _approve_locked(
    session: Session,
    service: ProcuredService,
    application: ServiceApplication,
    amount: int,
    actor: Actor,
    *,
    via: str = "manual",
) -> None:
    """Approve `amount` of a locked, pending application of a locked service."""
    if application.status != ApplicationStatus.submitted:
        raise Conflict(
            messages.APPLICATION_NOT_PENDING.format(status=status_label(application.status))
        )
    if amount > application.quantity_hundredths:
        raise InvalidInput(
            messages.APPROVE_MORE_THAN_REQUESTED.format(
                approved=format_quantity(amount),
                requested=format_quantity(application.quantity_hundredths),
            )
        )
    if service.valid_to < today():
        raise Conflict(messages.SERVICE_EXPIRED.format(valid_to=service.valid_to.isoformat()))
    remaining = _service_totals(session, stored_id(service)).remaining(service.quantity_hundredths)
    if amount > remaining:
        raise Conflict(
            messages.REMAINING_SHORT.format(
                wanted=format_quantity(amount),
                remaining=format_quantity(remaining),
                unit=service.unit,
            ),
            details={"remaining_quantity": from_hundredths(remaining)},
        )
    before = snapshot(application)
    _entry(
        session,
        application,
        LedgerKind.allocation,
        amount,
        actor,
        reference=f"application:{application.id}",
    )
    application.status = ApplicationStatus.approved.value
    application.approved_hundredths = amount
    application.decided_at = utcnow()
    application.decided_by = actor.label
    _change_status(session, application, before, actor, "application.approve", via=via)
    settle_submitted_notice(session=session, application=application)
    partly = amount < application.quantity_hundredths
    template = (
        messages.NOTIFY_APPLICATION_PARTLY if partly else messages.NOTIFY_APPLICATION_APPROVED
    )
    notify(
        session=session,
        user_ids=recipients(session=session, district_id=application.district_id),
        kind=(
            NotificationKind.application_partly_approved
            if partly
            else NotificationKind.application_approved
        ),
        title=template.format(
            service=service.name,
            approved=f"{format_quantity(amount)} {service.unit}",
            requested=f"{format_quantity(application.quantity_hundredths)} {service.unit}",
        ),
        link=f"/applications#application-{application.id}",
        dedupe_key=f"application:decided:{application.id}",
    )


def approve_application(
    *,
    session: Session,
    application_id: int,
    quantity: Decimal | None,
    user: User,
) -> ServiceApplication:
    """Approve a pending application fully or partly, if the policy lets `user` decide it (the
    owning center's staff); Conflict when the remainder is short."""
    service_id = get_application(
        session=session, application_id=application_id, user=user, action=DECIDE
    ).service_id
    service = lock_service(session=session, service_id=service_id)
    application = lock_application(session=session, application_id=application_id)
    amount = application.quantity_hundredths if quantity is None else to_hundredths(quantity)
    if amount <= 0:
        raise InvalidInput(messages.VALIDATION_FAILED)
    _approve_locked(session, service, application, amount, actor_for(user))
    return application


def _lock_holding(
    session: Session, application_id: int, user: User, action: Action
) -> tuple[ProcuredService, ServiceApplication, Totals]:
    service_id = get_application(
        session=session, application_id=application_id, user=user, action=action
    ).service_id
    service = lock_service(session=session, service_id=service_id)
    application = lock_application(session=session, application_id=application_id)
    if application.status not in HOLDING_STATUSES:
        raise Conflict(
            messages.APPLICATION_NOT_HOLDING.format(status=status_label(application.status))
        )
    return service, application, _application_totals(session, application_id)


def record_usage(
    *,
    session: Session,
    application_id: int,
    quantity: Decimal,
    user: User,
    reference: str = "",
    note: str = "",
) -> LedgerEntry:
    """Record use of an approved allocation (licences assigned, seats taken, hours consumed):
    the district's side (its coordinator, or center staff reaching it)."""
    service, application, totals = _lock_holding(
        session, application_id, user, Action.application_use
    )
    actor = actor_for(user)
    amount = to_hundredths(quantity)
    if amount > totals.held:
        raise Conflict(
            messages.BALANCE_SHORT.format(
                wanted=format_quantity(amount),
                balance=format_quantity(totals.held),
                unit=service.unit,
            )
        )
    if reference and _charged(
        session, reference, col(LedgerEntry.application_id) == application_id
    ):
        raise Conflict(messages.USAGE_ALREADY_RECORDED.format(reference=reference))
    before = snapshot(application)
    entry = _entry(
        session, application, LedgerKind.consumption, amount, actor, reference=reference, note=note
    )
    application.status = ApplicationStatus.in_use.value
    _change_status(
        session,
        application,
        before,
        actor,
        "application.consume",
        consumed=from_hundredths(amount),
        reference=reference,
    )
    return entry


def release_allocation(
    *,
    session: Session,
    application_id: int,
    quantity: Decimal | None,
    user: User,
    note: str = "",
) -> ServiceApplication:
    """Give unused quantity back to the pool (default: all); giving all closes it. Only if the
    policy lets `user` decide the application (the owning center's staff)."""
    service, application, totals = _lock_holding(session, application_id, user, DECIDE)
    actor = actor_for(user)
    if service.valid_to < today():
        raise Conflict(messages.SERVICE_EXPIRED.format(valid_to=service.valid_to.isoformat()))
    amount = totals.held if quantity is None else to_hundredths(quantity)
    if amount > totals.held or amount <= 0:
        raise Conflict(
            messages.BALANCE_SHORT.format(
                wanted=format_quantity(amount),
                balance=format_quantity(totals.held),
                unit=service.unit,
            )
        )
    before = snapshot(application)
    _entry(session, application, LedgerKind.release, amount, actor, note=note)
    if amount == totals.held:
        application.status = ApplicationStatus.closed.value
    _change_status(
        session, application, before, actor, "application.release", released=from_hundredths(amount)
    )
    return application


def close_application(*, session: Session, application_id: int, user: User) -> ServiceApplication:
    """End an allocation (the district's side): unused balance returns to the pool, or lapses
    if expired."""
    service, application, totals = _lock_holding(
        session, application_id, user, Action.application_use
    )
    actor = actor_for(user)
    before = snapshot(application)
    lapsed = service.valid_to < today()
    if totals.held > 0:
        kind = LedgerKind.expiry if lapsed else LedgerKind.release
        _entry(session, application, kind, totals.held, actor, note="结束使用")
    application.status = ApplicationStatus.closed.value
    _change_status(
        session,
        application,
        before,
        actor,
        "application.close",
        **{"expired" if lapsed else "released": from_hundredths(totals.held)},
    )
    return application


def expire_service(*, session: Session, service_id: int, user: User, on: date | None = None) -> int:
    """Lapse the unused balances of a service that ended before `on`, if `user` manages it;
    returns entries written."""
    on = on or today()
    service = lock_service(session=session, service_id=service_id)
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    actor = actor_for(user)
    if service.valid_to >= on:
        raise Conflict(messages.SERVICE_STILL_VALID.format(valid_to=service.valid_to.isoformat()))
    holding = session.exec(
        select(ServiceApplication)
        .where(
            ServiceApplication.service_id == service_id,
            col(ServiceApplication.status).in_(HOLDING_STATUSES),
        )
        .order_by(col(ServiceApplication.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    totals = ledger_totals(
        session=session, by="application", application_ids=[a.id for a in holding if a.id]
    )
    written = 0
    for application in holding:
        held = totals.get(application.id, Totals()).held
        before = snapshot(application)
        if held > 0:
            _entry(
                session,
                application,
                LedgerKind.expiry,
                held,
                actor,
                note=f"有效期至 {service.valid_to}",
            )
            written += 1
        application.status = ApplicationStatus.closed.value
        _change_status(
            session, application, before, actor, "application.expire", expired=from_hundredths(held)
        )
    return written


def expire_lapsed(*, session: Session, user: User, on: date | None = None) -> int:
    """Expire unused balances of every service that has ended (whoever manages every service:
    the scheduler and the CLI as the system principal); returns entries written."""
    if not sees_everything(user, Action.service_manage):
        raise Forbidden(messages.FORBIDDEN, code="forbidden")
    on = on or today()
    lapsed = session.exec(
        select(ServiceApplication.service_id)
        .join(ProcuredService, col(ProcuredService.id) == ServiceApplication.service_id)
        .where(ProcuredService.valid_to < on, col(ServiceApplication.status).in_(HOLDING_STATUSES))
        .distinct()
    ).all()
    return sum(
        expire_service(session=session, service_id=sid, user=user, on=on)
        for sid in sorted(lapsed)
        if sid is not None
    )


def consume_supervision_hours(
    *, session: Session, district_id: int, hours: float, reference: str, user: User
) -> bool:
    """Charge hours to the district's supervision-hours allocations; False (no charge) if short.

    The follow-on of a session marked held (booking's complete_booking, which checked `user` on
    the booking): `user` is who the ledger and the audit log name, not asked again here.

    Allocations of services that expire first are used first. A `reference` already charged is
    not charged twice (True again), so the booking engine may retry safely.
    """
    amount = int((Decimal(str(hours)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if amount <= 0:
        raise InvalidInput(messages.HOURS_NOT_POSITIVE)
    actor = actor_for(user)
    if reference and _charged(session, reference, col(LedgerEntry.district_id) == district_id):
        return True
    day = today()
    candidates = session.exec(
        select(ServiceApplication.id, ProcuredService.id)
        .join(ProcuredService, col(ProcuredService.id) == ServiceApplication.service_id)
        .where(
            ServiceApplication.district_id == district_id,
            col(ServiceApplication.status).in_(HOLDING_STATUSES),
            ProcuredService.kind == ServiceKind.supervision_hours.value,
            ProcuredService.valid_from <= day,
            ProcuredService.valid_to >= day,
        )
    ).all()
    if not candidates:
        return False
    services = {
        sid: lock_service(session=session, service_id=sid)
        for sid in sorted({s for _, s in candidates if s is not None})
    }
    applications = [
        lock_application(session=session, application_id=aid)
        for aid in sorted(a for a, _ in candidates if a is not None)
    ]
    applications = [a for a in applications if a.status in HOLDING_STATUSES]
    applications.sort(key=lambda a: (services[a.service_id].valid_to, a.id))
    totals = ledger_totals(
        session=session, by="application", application_ids=[a.id for a in applications if a.id]
    )
    held = {a.id: totals.get(a.id, Totals()).held for a in applications}
    if sum(held.values()) < amount:
        return False
    left = amount
    for application in applications:
        take = min(left, held[application.id])
        if take <= 0:
            continue
        before = snapshot(application)
        _entry(
            session,
            application,
            LedgerKind.consumption,
            take,
            actor,
            reference=reference,
            note="督导/培训场次完成",
        )
        application.status = ApplicationStatus.in_use.value
        _change_status(
            session,
            application,
            before,
            actor,
            "application.consume",
            consumed=from_hundredths(take),
            reference=reference,
        )
        left -= take
        if left == 0:
            break
    return True


# --- balances and the ledger view ----------------------------------------------------------


def pool_balance(*, session: Session, service_id: int) -> PoolBalance:
    """A service's quantities from the ledger, and whether they reconcile."""
    service = get_service(session=session, service_id=service_id)
    totals = _service_totals(session, service_id)
    held = ledger_totals(session=session, by="district", service_ids=[service_id])
    remaining = totals.remaining(service.quantity_hundredths)
    return PoolBalance(
        service_id=service_id,
        bought=from_hundredths(service.quantity_hundredths),
        allocated=from_hundredths(totals.allocated),
        released=from_hundredths(totals.released),
        expired=from_hundredths(totals.expired),
        consumed=from_hundredths(totals.consumed),
        held_by_districts=from_hundredths(totals.held),
        remaining=from_hundredths(remaining),
        reconciled=reconciles(
            bought=service.quantity_hundredths,
            remaining=remaining,
            held=[t.held for t in held.values()],
            consumed=totals.consumed,
            expired=totals.expired,
        ),
    )


def district_balances(
    *,
    session: Session,
    service_id: int | None = None,
    districts: frozenset[int] | None = None,
) -> list[DistrictBalance]:
    """Per-district ledger sums, for one service or all, optionally for some districts."""
    grouped = ledger_totals(
        session=session,
        by="district",
        service_ids=None if service_id is None else [service_id],
        district_ids=None if districts is None else sorted(districts),
    )
    names = dict(
        session.exec(
            select(District.id, District.name).where(col(District.id).in_(list(grouped)))
        ).all()
    )
    return [
        DistrictBalance(
            district_id=d,
            district_name=names.get(d, str(d)),
            allocated=from_hundredths(t.allocated),
            released=from_hundredths(t.released),
            expired=from_hundredths(t.expired),
            consumed=from_hundredths(t.consumed),
            balance=from_hundredths(t.held),
        )
        for d, t in sorted(grouped.items())
    ]


def ledger_view(*, session: Session, service_id: int, user: User, limit: int = 500) -> LedgerView:
    """The newest ledger entries of a service with balances, as far as `user` reaches: every
    district for scope `all`, a city center's or observer's region, a district its own entries.
    The pool is shown to whoever manages the service."""
    service = get_service(session=session, service_id=service_id)
    require_readable(session=session, user=user, service=service)
    districts = reach(session, user, Action.service_read)
    with_pool = manages(session=session, user=user, service=service)
    query = select(LedgerEntry).where(LedgerEntry.service_id == service_id)
    if districts is not None:
        query = query.where(col(LedgerEntry.district_id).in_(sorted(districts)))
    entries = session.exec(query.order_by(col(LedgerEntry.id).desc()).limit(limit)).all()
    return LedgerView(
        pool=pool_balance(session=session, service_id=service_id) if with_pool else None,
        balances=district_balances(session=session, service_id=service_id, districts=districts),
        entries=[
            LedgerEntryPublic(
                id=stored_id(e),
                at=e.at,
                kind=LedgerKind(e.kind),
                service_id=e.service_id,
                district_id=e.district_id,
                application_id=e.application_id,
                quantity=from_hundredths(e.hundredths),
                reference=e.reference,
                actor=e.actor,
                note=e.note,
            )
            for e in entries
        ],
    )


# --- the fair proposal -------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalInputs:
    service: ProcuredService
    capacity: int
    districts: list[fairness.DistrictInfo]
    applications: list[fairness.PendingApplication]


def _proposal_inputs(session: Session, service: ProcuredService) -> ProposalInputs:
    assert service.id is not None  # a stored service
    pending = session.exec(
        select(ServiceApplication)
        .where(
            ServiceApplication.service_id == service.id,
            ServiceApplication.status == ApplicationStatus.submitted.value,
        )
        .order_by(col(ServiceApplication.id))
    ).all()
    district_ids = sorted({a.district_id for a in pending})
    districts = session.exec(select(District).where(col(District.id).in_(district_ids))).all()
    past = ledger_totals(
        session=session, by="district", service_ids=[service.id], district_ids=district_ids
    )
    return ProposalInputs(
        service=service,
        capacity=_service_totals(session, service.id).remaining(service.quantity_hundredths),
        districts=[
            fairness.DistrictInfo(
                district_id=stored_id(d),
                name=d.name,
                students=d.student_count,
                past=past.get(d.id, Totals()).committed,
            )
            for d in districts
        ],
        applications=[
            fairness.PendingApplication(stored_id(a), a.district_id, a.quantity_hundredths)
            for a in pending
        ],
    )


def fair_proposal(*, session: Session, service_id: int, user: User) -> ProposalPublic:
    """The fair proposal for a service's pending applications, with reasoning (nothing changes),
    for whoever manages the service."""
    service = get_service(session=session, service_id=service_id)
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    inputs = _proposal_inputs(session, service)
    proposal = fairness.propose(
        capacity=inputs.capacity,
        districts=inputs.districts,
        applications=inputs.applications,
        unit=inputs.service.unit,
    )
    return ProposalPublic(
        service_id=stored_id(inputs.service),
        unit=inputs.service.unit,
        remaining_quantity=from_hundredths(proposal.capacity),
        total_requested=from_hundredths(proposal.total_requested),
        total_proposed=from_hundredths(proposal.total_proposed),
        rule=proposal.rule,
        fingerprint=proposal.fingerprint,
        districts=[
            DistrictProposalPublic(
                district_id=line.district_id,
                district_name=line.name,
                students=line.students,
                already_allocated=from_hundredths(line.past),
                requested=from_hundredths(line.requested),
                proposed=from_hundredths(line.proposed),
                no_allocation_yet=line.no_allocation_yet,
                reasoning=line.reasoning,
            )
            for line in proposal.districts
        ],
        applications=[
            ApplicationShare(
                application_id=a.application_id,
                district_id=a.district_id,
                requested=from_hundredths(a.requested),
                proposed=from_hundredths(proposal.allocations.get(a.application_id, 0)),
            )
            for a in inputs.applications
        ],
    )


def confirm_fair_proposal(
    *, session: Session, service_id: int, fingerprint: str, user: User
) -> list[ServiceApplication]:
    """Apply the proposal staff saw (same fingerprint): approve each application with its share,
    if `user` manages the service."""
    service = lock_service(session=session, service_id=service_id)
    require_own_service(session=session, user=user, service=service, action=Action.service_manage)
    actor = actor_for(user)
    inputs = _proposal_inputs(session, service)
    if not inputs.applications:
        raise Conflict(messages.PROPOSAL_EMPTY)
    proposal = fairness.propose(
        capacity=inputs.capacity,
        districts=inputs.districts,
        applications=inputs.applications,
        unit=service.unit,
    )
    if proposal.fingerprint != fingerprint:
        raise Conflict(messages.PROPOSAL_STALE)
    approved = []
    for application_id, amount in sorted(proposal.allocations.items()):
        if amount <= 0:
            continue
        application = lock_application(session=session, application_id=application_id)
        _approve_locked(
            session, service, application, amount, actor, via=f"fair_proposal:{fingerprint}"
        )
        approved.append(application)
    return approved


def approval_contexts(
    *, session: Session, applications: list[ServiceApplication], on: date | None = None
) -> dict[int, ApprovalContext]:
    """For each pending application: stock left, the district's share this term, the fair share."""
    pending = [a for a in applications if a.status == ApplicationStatus.submitted.value]
    if not pending:
        return {}
    term = term_of(on or today())
    service_ids = sorted({a.service_id for a in pending})
    district_ids = sorted({a.district_id for a in pending})
    services = {
        s.id: s
        for s in session.exec(
            select(ProcuredService).where(col(ProcuredService.id).in_(service_ids))
        )
    }
    students = dict(
        session.exec(
            select(District.id, District.student_count).where(col(District.id).in_(district_ids))
        ).all()
    )
    this_term = ledger_totals(
        session=session,
        by="service_district",
        service_ids=service_ids,
        district_ids=district_ids,
        since=term.start_at,
        until=term.end_at,
    )
    contexts: dict[int, ApprovalContext] = {}
    for service_id in service_ids:
        service = services[service_id]
        inputs = _proposal_inputs(session, service)
        proposal = fairness.propose(
            capacity=inputs.capacity,
            districts=inputs.districts,
            applications=inputs.applications,
            unit=service.unit,
        )
        for a in pending:
            if a.service_id != service_id:
                continue
            assert a.id is not None
            given = this_term.get((service_id, a.district_id), Totals()).committed
            count = int(students.get(a.district_id) or 0)
            suggested = proposal.allocations.get(a.id, 0)
            contexts[a.id] = ApprovalContext(
                application_id=a.id,
                unit=service.unit,
                remaining_quantity=from_hundredths(inputs.capacity),
                period_label=term.label,
                district_students=count,
                district_period_total=from_hundredths(given),
                district_period_per_10k=(
                    round(from_hundredths(given) * PER_STUDENTS / count, 2) if count else None
                ),
                suggested_quantity=from_hundredths(suggested),
                left_after_suggestion=from_hundredths(inputs.capacity - suggested),
            )
    return contexts
