"""The one permission policy: which role may do which action, over which scope.

`POLICY` is the table (actions × roles → scope). Services, routes, pages, navigation, the
dashboard and the CLI all ask it (`scope_of`, `require`, `reach`, `covers`, `roles_with`), so a
new role or action is one edit here. The route × role matrix test is generated from it.

Scopes, from narrowest to widest:
- `own`: the user's own account (their contact details, password, inbox);
- `own_expert`: the expert profile the user is bound to;
- `own_district`: the district the user is bound to;
- `region`: the districts of the user's resource center (a city's districts for a city center,
  every district for the province center);
- `all`: everything.
A role missing from an action's row may not do it at all.

Besides the people's roles, the system principal (`SystemRole.system`, see
`accounts/principal.py`: the CLI, demo seeding, scheduled jobs and importers acting by
themselves) has scope `all` for exactly the actions those callers perform.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import center_district_ids
from marketplace.errors import Forbidden
from marketplace.vocabulary import Role, SystemRole


class Scope(StrEnum):
    own = "own"
    own_expert = "own_expert"
    own_district = "own_district"
    region = "region"
    all = "all"


class Action(StrEnum):
    expert_read = "expert.read"  # the directory and profiles
    expert_manage = "expert.manage"  # create, pause, activate; see paused and retired experts
    expert_edit = "expert.edit"  # edit a profile, its availability, busy calendars, feed
    expert_pool = "expert.pool"  # the expert-pool console's table and export, any status
    service_read = "service.read"  # the catalogue of procured services, ledgers
    service_manage = "service.manage"  # create, change, delete, expire, fair proposals
    application_file = "application.file"  # apply, withdraw, record usage, close
    application_use = "application.use"  # withdraw, record usage, close (the district's side)
    application_read = "application.read"
    application_decide = "application.decide"  # approve, reject, release
    request_file = "request.file"  # file and edit a district's need
    request_read = "request.read"
    match_run = "match.run"  # batch matching and its review
    booking_create = "booking.create"  # book; answer the expert's proposed new time; trainings
    booking_read = "booking.read"
    training_register = "training.register"
    time_request_file = "time_request.file"  # ask an expert for a time (提交预约意向), withdraw it
    time_request_read = "time_request.read"
    time_request_answer = "time_request.answer"  # the expert side offers a time or declines
    report_read = "report.read"
    audit_read = "audit.read"
    resource_manage = "resource.manage"  # review, publish and retire library material
    resource_submit = "resource.submit"  # submit material to the library (and revise one's own)
    user_manage = "user.manage"
    ops_manage = "ops.manage"  # the scheduled jobs page: see runs and errors, run a job now
    account = "account.own"  # one's own account: who am I, contact, password, inbox
    booking_respond = "booking.respond"  # the expert side: confirm, decline, complete, no-show
    booking_change = "booking.change"  # either party: cancel, reschedule
    booking_rate = "booking.rate"  # the booking district rates a session
    calendar_feed = "calendar.feed"  # a district's or expert's calendar subscription link
    resource_read = "resource.read"  # the published resource library
    expert_group = "expert.group"  # a city center's expert group: attach, detach, pair zones
    booking_escalate = "booking.escalate"  # flag crisis sessions nobody answered in time (jobs)


# A route's declaration that it needs no login at all (login, health, capability feed URLs).
PUBLIC = "public"


ALL, REGION, OWN_DISTRICT, OWN_EXPERT, OWN = (
    Scope.all,
    Scope.region,
    Scope.own_district,
    Scope.own_expert,
    Scope.own,
)
ADM = Role.admin
PROV = Role.staff  # province staff (省级资源中心); the stored value `staff` predates city centers
CITY = Role.city_staff
DIST = Role.district
EXP = Role.expert
OBS = Role.observer  # education-bureau leaders: read reports and lists of their region
SYS = SystemRole.system  # the CLI, demo seeding, scheduled jobs, importers (never a person)
# Whoever a policy row names: a person's role or the system principal's.
Principal = Role | SystemRole
_CENTERS: dict[Principal, Scope] = {ADM: ALL, PROV: ALL, CITY: REGION}
# The system principal: importers and the CLI's expert commands (expert_manage, expert_pool),
# service expiry and demo catalogue (service_*), the demo's applications (application_*),
# batch matching from the CLI (request_read, match_run), demo and CLI requests (request_file),
# the library importer (resource_*), `heart users` and demo accounts (user_manage), the crisis
# escalation job and `heart booking tick` (booking_escalate).
_SYSTEM: dict[Principal, Scope] = {SYS: ALL}

POLICY: dict[Action, dict[Principal, Scope]] = {
    Action.expert_read: {ADM: ALL, PROV: ALL, CITY: ALL, DIST: ALL, EXP: ALL, OBS: ALL},
    Action.expert_manage: {ADM: ALL, PROV: ALL, **_SYSTEM},
    Action.expert_edit: {ADM: ALL, PROV: ALL, EXP: OWN_EXPERT},
    # City staff see their region's experts in the pool; adding and changing them is the
    # province center's (expert_manage).
    Action.expert_pool: {**_CENTERS, **_SYSTEM},
    Action.service_read: {**_CENTERS, DIST: OWN_DISTRICT, OBS: REGION, **_SYSTEM},
    Action.service_manage: {**_CENTERS, **_SYSTEM},
    Action.application_file: {DIST: OWN_DISTRICT, **_SYSTEM},
    Action.application_use: {**_CENTERS, DIST: OWN_DISTRICT, **_SYSTEM},
    Action.application_read: {**_CENTERS, DIST: OWN_DISTRICT, OBS: REGION, **_SYSTEM},
    Action.application_decide: {**_CENTERS, **_SYSTEM},
    Action.request_file: {**_CENTERS, DIST: OWN_DISTRICT, **_SYSTEM},
    Action.request_read: {**_CENTERS, DIST: OWN_DISTRICT, OBS: REGION, **_SYSTEM},
    Action.match_run: {**_CENTERS, **_SYSTEM},
    Action.booking_create: {**_CENTERS, DIST: OWN_DISTRICT},
    Action.booking_read: {**_CENTERS, DIST: OWN_DISTRICT, EXP: OWN_EXPERT},
    Action.training_register: {DIST: OWN_DISTRICT},
    Action.time_request_file: {**_CENTERS, DIST: OWN_DISTRICT},
    Action.time_request_read: {**_CENTERS, DIST: OWN_DISTRICT, EXP: OWN_EXPERT},
    Action.time_request_answer: {ADM: ALL, PROV: ALL, EXP: OWN_EXPERT},
    Action.report_read: {**_CENTERS, OBS: REGION},
    Action.audit_read: {ADM: ALL, PROV: ALL},
    # A city center's staff review what is published by (or for) their center.
    Action.resource_manage: {**_CENTERS, **_SYSTEM},
    Action.resource_submit: {**_CENTERS, EXP: OWN_EXPERT, **_SYSTEM},
    Action.user_manage: {ADM: ALL, **_SYSTEM},
    Action.ops_manage: {ADM: ALL},
    Action.account: {role: OWN for role in Role},
    Action.booking_respond: {**_CENTERS, EXP: OWN_EXPERT},
    # Only the scheduler (and `heart booking tick`) escalates: staff are who it alerts.
    Action.booking_escalate: {**_SYSTEM},
    Action.booking_change: {**_CENTERS, DIST: OWN_DISTRICT, EXP: OWN_EXPERT},
    Action.booking_rate: {DIST: OWN_DISTRICT},
    Action.calendar_feed: {**_CENTERS, DIST: OWN_DISTRICT, EXP: OWN_EXPERT},
    Action.resource_read: {role: ALL for role in Role},
    Action.expert_group: {**_CENTERS},
}
# What a role the action's row leaves out is told (default: messages.FORBIDDEN).
REFUSALS: dict[Action, str] = {
    Action.application_file: messages.NEEDS_DISTRICT_ACCOUNT,
    Action.resource_submit: messages.RESOURCE_SUBMITTER_ROLE,
}
# Actions on records a center owns (its services, the applications to them, its expert group):
# a regional user's scope is their own center's records, not records of their districts.
CENTER_OWNED = frozenset({Action.service_manage, Action.application_decide, Action.expert_group})


def _role_of(user: User) -> Principal | None:
    if user.role == SystemRole.system.value:
        # Only the never-stored principal acts as the system; a stored row claiming the role
        # (which the model refuses to write) is nobody.
        return SystemRole.system if user.id is None else None
    try:
        return Role(user.role)
    except ValueError:
        return None


def scope_of(user: User | None, action: Action) -> Scope | None:
    """The scope over which `user` may do `action`, or None if not at all."""
    if user is None or not user.is_active:
        return None
    role = _role_of(user)
    if role is None:
        return None
    scope = POLICY[action].get(role)
    if scope is Scope.own_district and user.district_id is None:
        return None
    if scope is Scope.own_expert and user.expert_id is None:
        return None
    if scope is Scope.region and user.center_id is None:
        return None
    return scope


def can(user: User | None, action: Action) -> bool:
    """Whether `user` may do `action` somewhere (the role check; scope is `covers`' business)."""
    return scope_of(user, action) is not None


def require(user: User | None, action: Action) -> Scope:
    """The user's scope for `action`, or Forbidden."""
    scope = scope_of(user, action)
    if scope is None:
        raise Forbidden(REFUSALS.get(action, messages.FORBIDDEN), code="forbidden")
    return scope


def roles_with(action: Action, scope: Scope = Scope.all) -> tuple[str, ...]:
    """The people's role values whose scope for `action` is `scope` (e.g. who gets province
    staff mail)."""
    return tuple(
        sorted(
            role.value
            for role, held in POLICY[action].items()
            if held is scope and isinstance(role, Role)
        )
    )


def sees_everything(user: User | None, action: Action) -> bool:
    return scope_of(user, action) is Scope.all


def reach(session: Session, user: User, action: Action) -> frozenset[int] | None:
    """The district ids `user` may do `action` for: None means every district; Forbidden if none."""
    scope = require(user, action)
    if scope is Scope.all:
        return None
    if scope is Scope.own_district:
        return frozenset({user.district_id}) if user.district_id is not None else frozenset()
    if scope is Scope.region:
        center = session.get(ResourceCenter, user.center_id)
        if center is None:
            raise Forbidden(messages.FORBIDDEN, code="forbidden")
        return center_district_ids(session=session, center=center)
    return frozenset()  # own_expert: bound to a profile, not to districts


def covers(session: Session, user: User, action: Action, *, district_id: int | None) -> bool:
    """Whether `user` may do `action` for a record of `district_id`."""
    districts = reach(session, user, action)
    return districts is None or (district_id is not None and district_id in districts)


def require_district(
    session: Session, user: User, action: Action, *, district_id: int | None
) -> None:
    """Forbidden unless `user` may do `action` for a record of `district_id`."""
    if not covers(session, user, action, district_id=district_id):
        raise Forbidden(messages.FORBIDDEN, code="forbidden")


def covers_expert(user: User, action: Action, *, expert_id: str | None) -> bool:
    """Whether `user` may do `action` on the expert profile `expert_id`."""
    scope = scope_of(user, action)
    if scope is Scope.all:
        return True
    return scope is Scope.own_expert and expert_id is not None and user.expert_id == expert_id


def user_center(session: Session, user: User) -> ResourceCenter | None:
    return None if user.center_id is None else session.get(ResourceCenter, user.center_id)


def covers_center(session: Session, user: User, action: Action, *, center_id: int | None) -> bool:
    """Whether `user` may do `action` on a record owned by the center `center_id` (None: the
    province center). Everyone with scope `all` may; a regional user only for their own center."""
    scope = scope_of(user, action)
    if scope is Scope.all:
        return True
    if scope is not Scope.region:
        return False
    return center_id is not None and user.center_id == center_id


@dataclass(frozen=True)
class Owner:
    """Whose a record is, as far as the policy's scopes go."""

    district_id: int | None = None
    expert_id: str | None = None
    center_id: int | None = None  # the owning center (services, applications, runs)
    user_id: int | None = None  # an account's own records (inbox entries)
    every_district: bool = False  # open to every district (trainings, province-wide services)


def permits(session: Session, user: User | None, action: Action, owner: Owner) -> bool:
    """Whether `user` may do `action` on a record of `owner` (the one record-level check)."""
    scope = scope_of(user, action)
    if scope is None or user is None:
        return False
    if scope is Scope.all:
        return True
    if scope is Scope.own:
        return owner.user_id is not None and owner.user_id == user.id
    if scope is Scope.own_expert:
        return owner.expert_id is not None and owner.expert_id == user.expert_id
    if scope is Scope.own_district:
        return owner.every_district or (
            owner.district_id is not None and owner.district_id == user.district_id
        )
    if action in CENTER_OWNED:
        return owner.center_id is not None and owner.center_id == user.center_id
    if owner.every_district:
        return True
    return owner.district_id is not None and covers(
        session, user, action, district_id=owner.district_id
    )
