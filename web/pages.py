"""Shared pieces of the page routes: who may open a page, flash notices, form error mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, require, scope_of
from marketplace.errors import DomainError, Forbidden
from marketplace.notifications.service import unread_count
from marketplace.validation import (
    HOSTILE_INPUT_ERRORS,
    control_character_reason,
    describe_error,
    error_fields,
)
from web.deps import CurrentUser, ReadingUser, ReadSessionDep, SessionDep

FLASH_COOKIE = "heart_flash"
# Flash notices are keys, never free text, so a cookie cannot inject words into a page.
FLASH_MESSAGES = {
    "profile_saved": messages.PROFILE_SAVED,
    "profile_unchanged": messages.PROFILE_UNCHANGED,
    "logged_out": messages.LOGGED_OUT,
    "account_created": messages.ACCOUNT_CREATED,
    "service_created": messages.SERVICE_CREATED,
    "expert_status_changed": messages.EXPERT_STATUS_CHANGED,
    "expert_verified": messages.EXPERT_VERIFIED,
    "expert_created": messages.EXPERT_CREATED,
    "expert_saved": messages.EXPERT_SAVED,
    "expert_unchanged": messages.EXPERT_UNCHANGED,
    "service_saved": messages.SERVICE_SAVED,
    "service_retired": messages.SERVICE_RETIRED,
    "service_deleted": messages.SERVICE_DELETED,
    "account_saved": messages.ACCOUNT_SAVED,
    "account_deactivated": messages.ACCOUNT_DEACTIVATED,
    "account_reactivated": messages.ACCOUNT_REACTIVATED,
    "account_logged_out": messages.ACCOUNT_LOGGED_OUT,
    "password_changed": messages.PASSWORD_CHANGED,
    "application_submitted": messages.APPLICATION_SUBMITTED,
    "application_approved": messages.APPLICATION_APPROVED,
    "application_rejected": messages.APPLICATION_REJECTED,
    "application_withdrawn": messages.APPLICATION_WITHDRAWN,
    "duplicate_submission": messages.DUPLICATE_SUBMISSION,
    "request_filed": messages.REQUEST_FILED,
    "booking_requested": messages.BOOKING_REQUESTED,
    "booking_confirmed": messages.BOOKING_CONFIRMED,
    "booking_declined": messages.BOOKING_DECLINED,
    "booking_cancelled": messages.BOOKING_CANCELLED,
    "availability_saved": messages.AVAILABILITY_SAVED,
    "busy_calendar_added": messages.BUSY_CALENDAR_ADDED,
    "busy_calendar_removed": messages.BUSY_CALENDAR_REMOVED,
    "feed_link_revoked": messages.FEED_LINK_REVOKED,
    "booking_rescheduled": messages.BOOKING_RESCHEDULED,
    "booking_rescheduled_pending": messages.BOOKING_RESCHEDULED_PENDING,
    "booking_proposal_sent": messages.BOOKING_PROPOSAL_SENT,
    "booking_proposal_accepted": messages.BOOKING_PROPOSAL_ACCEPTED,
    "booking_proposal_declined": messages.BOOKING_PROPOSAL_DECLINED,
    "booking_completed": messages.BOOKING_COMPLETED,
    "booking_no_show": messages.BOOKING_NO_SHOW,
    "booking_rated": messages.BOOKING_RATED,
    "training_registered": messages.TRAINING_REGISTERED,
    "match_run_created": messages.MATCH_RUN_CREATED,
    "match_run_adjusted": messages.MATCH_RUN_ADJUSTED,
    "match_run_confirmed": messages.MATCH_RUN_CONFIRMED,
    "match_run_discarded": messages.MATCH_RUN_DISCARDED,
    "notifications_all_read": messages.NOTIFICATIONS_ALL_READ,
    "contact_saved": messages.CONTACT_SAVED,
    "job_run_requested": messages.JOB_RUN_REQUESTED,
    "resource_submitted": messages.RESOURCE_SUBMITTED,
    "resource_published": messages.RESOURCE_PUBLISHED,
    "resource_changes_requested": messages.RESOURCE_CHANGES_REQUESTED,
    "resource_rejected": messages.RESOURCE_REJECTED,
    "resource_retired": messages.RESOURCE_RETIRED,
    "resource_file_added": messages.RESOURCE_FILE_ADDED,
    "resource_version_created": messages.RESOURCE_VERSION_CREATED,
    "group_member_saved": messages.GROUP_MEMBER_SAVED,
    "group_member_removed": messages.GROUP_MEMBER_REMOVED,
    "time_request_filed": messages.TIME_REQUEST_FILED,
    "time_request_offered": messages.TIME_REQUEST_OFFERED,
    "time_request_declined": messages.TIME_REQUEST_DECLINED,
    "time_request_withdrawn": messages.TIME_REQUEST_WITHDRAWN,
    "resource_resubmitted": messages.RESOURCE_UPDATED_AND_SUBMITTED,
    "resource_saved": messages.RESOURCE_SAVED,
    "resource_revised": messages.RESOURCE_REVISED,
}


def _page_user(request: Request, user: CurrentUser, session: SessionDep) -> User:
    request.state.user = user
    # The navigation's unread badge (web/templating.py shows it on every page).
    request.state.unread_notifications = unread_count(session=session, user_id=user.id or 0)
    return user


PageUser = Annotated[User, Depends(_page_user)]


def _reading_page_user(request: Request, user: ReadingUser, session: ReadSessionDep) -> User:
    return _page_user(request, user, session)


# A page route on the read session (its writes follow it in the write queue's turn).
ReadingPageUser = Annotated[User, Depends(_reading_page_user)]


def page_allows(action: Action, *scopes: Scope, refused: str = messages.FORBIDDEN) -> Any:
    """A dependency admitting to a page only users whom the policy lets do `action` (with one of
    `scopes`, when given); a 403 page (saying `refused` to a scope left out) otherwise."""

    def _check(user: PageUser) -> User:
        scope = require(user, action)
        if scopes and scope not in scopes:
            raise Forbidden(refused, code="forbidden")
        return user

    # The page's declaration, read by the route × role matrix test from the route table.
    _check.action = action  # type: ignore[attr-defined]
    _check.scopes = scopes  # type: ignore[attr-defined]
    return Depends(_check)


CENTER_SCOPES = (Scope.all, Scope.region)
# Center staff (province: everything; city: their region) deciding applications and requests.
StaffPage = Annotated[User, page_allows(Action.application_decide)]
MatchPage = Annotated[User, page_allows(Action.match_run)]
ReportPage = Annotated[User, page_allows(Action.report_read)]
AuditPage = Annotated[User, page_allows(Action.audit_read)]
AdminPage = Annotated[User, page_allows(Action.user_manage)]
ExpertPage = Annotated[User, page_allows(Action.expert_edit, Scope.own_expert)]
DistrictPage = Annotated[User, page_allows(Action.request_file, Scope.own_district)]


def is_staff(user: User, action: Action = Action.application_read) -> bool:
    """Whether `user` works for a center (or is an admin) as far as `action` goes: their scope is
    every district or their center's region, not one district or one profile."""
    return scope_of(user, action) in CENTER_SCOPES


def files_own_requests(user: User) -> bool:
    """Whether `user` files their own district's requests on the 提交需求 form (DistrictPage)."""
    return scope_of(user, Action.request_file) is Scope.own_district


def set_flash(response: Response, key: str) -> None:
    """Show FLASH_MESSAGES[key] on the next page this browser renders."""
    response.set_cookie(FLASH_COOKIE, key, max_age=60, path="/", httponly=True, samesite="lax")


def take_flash(request: Request) -> str | None:
    return FLASH_MESSAGES.get(request.cookies.get(FLASH_COOKIE, ""))


def redirect_with_flash(url: str, key: str) -> Response:
    """Post/redirect/get: a 303 to `url` that shows FLASH_MESSAGES[key] there."""
    from fastapi.responses import RedirectResponse

    response = RedirectResponse(url, status_code=303)
    set_flash(response, key)
    return response


class FormOnce:
    """Remembers which one-time form ids were already used (double-clicked or re-sent forms).

    In memory and per process: enough to absorb a double click or a
    browser re-sending a form; the services' own state checks remain the real guard.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        from collections import OrderedDict

        self.capacity = capacity
        self._seen: OrderedDict[tuple[int, str], None] = OrderedDict()

    def seen(self, login_id: int, nonce: str) -> bool:
        return bool(nonce) and (login_id, nonce) in self._seen

    def remember(self, login_id: int, nonce: str) -> None:
        if not nonce:
            return
        self._seen[(login_id, nonce[:64])] = None
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def form_once(request: Request) -> FormOnce:
    once = getattr(request.app.state, "form_once", None)
    if once is None:
        once = request.app.state.form_once = FormOnce()
    return once


def login_id(request: Request) -> int:
    login = getattr(request.state, "login_session", None)
    return login.id if login is not None else 0


def sent_before(request: Request, nonce: str) -> bool:
    """This login already sent the form with this one-time id (a double click, a re-sent page)."""
    return form_once(request).seen(login_id(request), nonce)


def mark_sent(request: Request, nonce: str) -> None:
    """Remember the form's one-time id, once what it asked for is done."""
    form_once(request).remember(login_id(request), nonce)


def text_error(value: str) -> str | None:
    """The one check of form text a page stores as typed (outside an input schema): the
    Chinese reason it is refused (control, C1 or text-direction characters), or None.

    Text that goes through an input schema is checked there (marketplace.validation)."""
    return control_character_reason(value)


def field_errors(exc: ValidationError, rename: Callable[[str], str] = str) -> dict[str, str]:
    """The first error of each top-level field, as a Chinese reason without the field path; a
    cross-field error (end before start) marks each field it names."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        context = error.get("ctx") or {}
        hostile = error.get("type") in HOSTILE_INPUT_ERRORS and context.get("field")
        if hostile and not error.get("loc"):
            # InputModel's model-wide checks name the field in their context: shown next to it.
            errors.setdefault(rename(str(context["field"]).split(".")[0]), str(context["reason"]))
            continue
        names = [rename(f) for f in error_fields(error)] or ["__all__"]
        for name in names:
            errors.setdefault(name, describe_error({**error, "loc": ()}))
    return errors


def form_errors(
    exc: ValidationError | DomainError, rename: Callable[[str], str] = str
) -> dict[str, str]:
    """THE error mapping of every page form: each message next to the field it is about, and a
    summary (`__all__`) above the form; an error about no field is the summary itself."""
    if isinstance(exc, ValidationError):
        errors = field_errors(exc, rename)
    else:
        errors = {rename(exc.field) if exc.field else "__all__": exc.message}
    if "__all__" not in errors:
        errors["__all__"] = messages.FORM_HAS_ERRORS
    return errors
