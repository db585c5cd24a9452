"""District requests: filing, editing, status changes and listing, with district ownership."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import (
    Action,
    Scope,
    covers,
    reach,
    require,
    require_district,
    scope_of,
)
from marketplace.accounts.principal import actor_for
from marketplace.audit.service import record_read, save_and_record
from marketplace.clock import utcnow
from marketplace.districts.models import District
from marketplace.districts.service import RegionIndex, find_district
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert, RegionRef
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients
from marketplace.privacy import find_personal_data, mask
from marketplace.requests.models import (
    TRANSITIONS,
    DistrictRequest,
    DistrictRequestCreate,
    DistrictRequestPublic,
    DistrictRequestUpdate,
    PrivacyChoice,
    RequestStatus,
    Urgency,
)

MAX_PAGE_SIZE = 100
# Fields a district may still change once the request has left the draft state.
EDITABLE_STATUSES = (RequestStatus.draft.value, RequestStatus.submitted.value)


def _district_id(session: Session, name: str) -> int:
    """A district named in a request body; unknown names are invalid input (422), not 404."""
    try:
        district = find_district(session=session, name=name)
    except NotFound as exc:
        raise InvalidInput(exc.message) from None
    assert district.id is not None
    return district.id


def _check_can_see(
    session: Session, user: User, request: DistrictRequest, action: Action = Action.request_read
) -> None:
    if not covers(session, user, action, district_id=request.district_id):
        raise Forbidden(messages.REQUEST_NOT_YOURS, code="forbidden")


def _check_known_experts(session: Session, expert_ids: list[str]) -> None:
    if not expert_ids:
        return
    known = set(session.exec(select(Expert.id).where(col(Expert.id).in_(expert_ids))).all())
    unknown = [e for e in expert_ids if e not in known]
    if unknown:
        raise InvalidInput(messages.REQUEST_UNKNOWN_EXCLUDED.format(ids="、".join(unknown[:10])))


def snapshot(request: DistrictRequest) -> dict:
    """The request's fields as JSON-able data, for audit entries."""
    data = request.model_dump(mode="json", exclude={"created_at", "updated_at"})
    return data


def public_views(
    *, session: Session, requests: list[DistrictRequest]
) -> list[DistrictRequestPublic]:
    """Requests in the API shape, with their region names."""
    regions = RegionIndex(session)
    views = []
    for r in requests:
        assert r.id is not None
        names = regions.names(r.district_id)
        views.append(
            DistrictRequestPublic(
                **r.model_dump(exclude={"id"}),
                id=r.id,
                district=RegionRef(
                    province=names.province, city=names.city, district=names.district
                ),
            )
        )
    return views


def public_view(*, session: Session, request: DistrictRequest) -> DistrictRequestPublic:
    return public_views(session=session, requests=[request])[0]


def load_request(*, session: Session, request_id: int) -> DistrictRequest:
    """The request with this id, or NotFound: for services that have checked their caller on
    the record that names it (a batch run's requests, a booking's request)."""
    request = session.get(DistrictRequest, request_id)
    if request is None:
        raise NotFound(messages.REQUEST_NOT_FOUND.format(id=request_id))
    return request


def get_request(
    *, session: Session, request_id: int, user: User, action: Action = Action.request_read
) -> DistrictRequest:
    """The request with this id, if `user` may do `action` on it; NotFound/Forbidden."""
    request = load_request(session=session, request_id=request_id)
    _check_can_see(session, user, request, action)
    return request


def find_by_external_id(*, session: Session, external_id: str) -> DistrictRequest | None:
    """The request imported under this external id, if any."""
    return session.exec(
        select(DistrictRequest).where(DistrictRequest.external_id == external_id)
    ).first()


def screen_personal_data(text: str, choice: PrivacyChoice | None) -> str:
    """Refuse student personal data in `text` (422 listing it) unless masked or confirmed."""
    findings = find_personal_data(text)
    if not findings or choice == PrivacyChoice.confirm:
        return text
    if choice == PrivacyChoice.mask:
        return mask(text, findings)
    kinds = "、".join(dict.fromkeys(f.label for f in findings))
    raise InvalidInput(
        messages.PRIVACY_FINDINGS.format(kinds=kinds),
        details={"privacy": [f.as_dict() for f in findings], "choices": ["mask", "confirm"]},
    )


def read_request(*, session: Session, request_id: int, user: User) -> DistrictRequest:
    """get_request for display; a read by someone outside the district (staff) is audited."""
    request = get_request(session=session, request_id=request_id, user=user)
    if user.district_id != request.district_id:
        record_read(
            session=session,
            actor=actor_for(user),
            entity_type="district_request",
            entity_id=str(request.id),
        )
    return request


def create_request(*, session: Session, data: DistrictRequestCreate, user: User) -> DistrictRequest:
    """File a request: a district user for their own district, staff (and the system principal)
    for the district named, within their reach."""
    if require(user, Action.request_file) is Scope.own_district:
        assert user.district_id is not None  # scope_of checked the binding
        district_id = user.district_id
        if data.district:
            if _district_id(session, data.district) != district_id:
                raise Forbidden(messages.REQUEST_NOT_YOURS, code="forbidden")
    else:
        if not data.district:
            raise InvalidInput(
                messages.REQUEST_NEEDS_DISTRICT, code="district_required", field="district"
            )
        district_id = _district_id(session, data.district)
        require_district(session, user, Action.request_file, district_id=district_id)
    if data.external_id and find_by_external_id(session=session, external_id=data.external_id):
        raise Conflict(messages.REQUEST_EXISTS.format(id=data.external_id))
    _check_known_experts(session, data.excluded_expert_ids)
    fields = data.model_dump(exclude={"district", "submit", "privacy"})
    fields["text"] = screen_personal_data(fields["text"], data.privacy)
    request = DistrictRequest(
        **fields,
        district_id=district_id,
        status=(RequestStatus.submitted if data.submit else RequestStatus.draft).value,
        created_by=user.id,
    )
    save_and_record(
        session=session,
        row=request,
        actor=actor_for(user),
        action="request.create",
        entity_type="district_request",
        after=snapshot(request),
    )
    _alert_staff_if_crisis(session, request)
    return request


def update_request(
    *, session: Session, request_id: int, data: DistrictRequestUpdate, user: User
) -> DistrictRequest:
    """Change fields of a draft or submitted request (its district or staff)."""
    request = get_request(
        session=session, request_id=request_id, user=user, action=Action.request_file
    )
    if request.status not in EDITABLE_STATUSES:
        raise Conflict(messages.REQUEST_NOT_EDITABLE.format(status=request.status))
    changes = {
        k: v
        for k, v in data.model_dump(exclude_unset=True, exclude={"privacy"}).items()
        if v is not None or k == "min_years_experience"
    }
    if not changes:
        return request
    if "text" in changes:
        changes["text"] = screen_personal_data(changes["text"], data.privacy)
    if "excluded_expert_ids" in changes:
        _check_known_experts(session, changes["excluded_expert_ids"])
    start = changes.get("window_start", request.window_start)
    end = changes.get("window_end", request.window_end)
    if end < start:
        raise InvalidInput(messages.REQUEST_WINDOW_ORDER)
    before = snapshot(request)
    for key, value in changes.items():
        setattr(request, key, value.value if hasattr(value, "value") else value)
    after = snapshot(request)
    if after == before:
        return request
    request.updated_at = utcnow()
    save_and_record(
        session=session,
        row=request,
        actor=actor_for(user),
        action="request.update",
        entity_type="district_request",
        before=before,
        after=after,
    )
    _alert_staff_if_crisis(session, request)
    return request


def change_status(
    *,
    session: Session,
    request_id: int,
    status: RequestStatus,
    user: User,
) -> DistrictRequest:
    """Move a request along its life cycle, if `user` may file requests for its district;
    districts may only submit, withdraw or re-draft."""
    request = get_request(
        session=session, request_id=request_id, user=user, action=Action.request_file
    )
    if not _moves(request, status):
        return request
    district_allowed = {RequestStatus.submitted, RequestStatus.withdrawn, RequestStatus.draft}
    own_side = scope_of(user, Action.match_run) is None
    if own_side and status not in district_allowed:
        raise Forbidden(messages.FORBIDDEN)
    return _move(session, request, status, user)


def _moves(request: DistrictRequest, status: RequestStatus) -> bool:
    """Whether `status` is a move for the request (False: it is there already); Conflict when
    its life cycle does not lead there."""
    current = RequestStatus(request.status)
    if current == status:
        return False
    if status not in TRANSITIONS[current]:
        raise Conflict(
            messages.REQUEST_BAD_TRANSITION.format(current=current.value, target=status.value)
        )
    return True


# What other services move a request to as the outcome of their own, checked, action.
FOLLOW_ON = {RequestStatus.matched, RequestStatus.scheduled}


def follow_on_status(
    *, session: Session, request_id: int, status: RequestStatus, user: User
) -> DistrictRequest:
    """Move a request on as the outcome of what `user` did through another service that checked
    them on it (its batch run confirmed: matched; enough sessions booked: scheduled). Only those
    moves, only along the life cycle; the audit log names `user`."""
    if status not in FOLLOW_ON:
        raise InvalidInput(messages.VALIDATION_FAILED)
    request = load_request(session=session, request_id=request_id)
    if not _moves(request, status):
        return request
    return _move(session, request, status, user)


def _move(
    session: Session, request: DistrictRequest, status: RequestStatus, user: User
) -> DistrictRequest:
    before = {"status": request.status}
    request.status = status.value
    request.updated_at = utcnow()
    save_and_record(
        session=session,
        row=request,
        actor=actor_for(user),
        action="request.status",
        entity_type="district_request",
        before=before,
        after={"status": request.status},
    )
    _alert_staff_if_crisis(session, request)
    return request


CRISIS_NOTICE_CHARS = 40  # of the request's text in the staff's notice


def _alert_staff_if_crisis(session: Session, request: DistrictRequest) -> None:
    """A submitted request marked 危机 reaches its city center's and the province's staff as
    soon as it is filed (or submitted, or marked 危机), in the same transaction: not after a
    scheduled job's next run. Once per request (the notice's dedupe key)."""
    if request.status != RequestStatus.submitted.value or request.urgency != Urgency.crisis.value:
        return
    district = session.get(District, request.district_id)
    text = " ".join(request.text.split())
    if len(text) > CRISIS_NOTICE_CHARS:
        text = text[:CRISIS_NOTICE_CHARS] + "…"
    notify(
        session=session,
        user_ids=recipients(session=session, staff_of_district=request.district_id),
        kind=NotificationKind.crisis_request,
        title=messages.NOTIFY_CRISIS_REQUEST.format(
            district=district.name if district else "", text=text
        ),
        link=f"/requests/{request.id}",
        dedupe_key=f"request:crisis:{request.id}",
    )


def list_requests(
    *,
    session: Session,
    user: User,
    status: RequestStatus | None = None,
    district_id: int | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[DistrictRequestPublic], int]:
    """A page of the requests `user` may see, newest first."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    query = select(DistrictRequest)
    districts = reach(session, user, Action.request_read)
    if districts is not None:
        query = query.where(col(DistrictRequest.district_id).in_(sorted(districts)))
    if district_id is not None:
        query = query.where(DistrictRequest.district_id == district_id)
    if status is not None:
        query = query.where(DistrictRequest.status == status.value)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(DistrictRequest.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return public_views(session=session, requests=list(rows)), total


def open_requests(*, session: Session, ids: list[int] | None = None) -> list[DistrictRequest]:
    """Submitted requests (optionally only these ids), oldest first: the input of a batch run."""
    query = select(DistrictRequest).where(
        col(DistrictRequest.status).in_([s.value for s in (RequestStatus.submitted,)])
    )
    if ids is not None:
        query = query.where(col(DistrictRequest.id).in_(ids))
    return list(session.exec(query.order_by(col(DistrictRequest.id))).all())
