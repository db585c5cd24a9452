"""Pages: admins manage accounts (/users); everyone changes their own password.

Over marketplace.accounts (service + admin); every rule (bindings, self-protection, password
policy, revocation) is theirs. A temporary password is shown once, on the page that made it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.admin import (
    PasswordChange,
    UserUpdate,
    change_own_password,
    force_logout,
    get_user,
    list_users,
    public_users,
    reset_password,
    set_active,
    temporary_password,
    update_user,
)
from marketplace.accounts.models import User, UserCreate
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import create_user
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import label as center_label
from marketplace.clock import DEFAULT_ZONE
from marketplace.districts.service import list_districts
from marketplace.errors import DomainError
from marketplace.validation import RecordId
from marketplace.vocabulary import Role
from web.deps import ReadSessionDep, SessionDep, performs, performs_reading
from web.pages import AdminPage, PageUser, ReadingPageUser, form_errors, redirect_with_flash
from web.sessions import log_in
from web.templating import posted_zone, render, zone_choices

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
PAGE_SIZE = 50
ROLE_CHOICES = [(r.value, messages.ROLE_LABELS[r.value]) for r in Role]
ACTIVE_CHOICES = [("1", "启用"), ("0", "已停用")]


def _district_choices(session: Session) -> list[tuple[str, str]]:
    return [
        (f"{d.city}/{d.district}", f"{d.city} · {d.district}")
        for d in list_districts(session=session)
    ]


def _new_password_field(name: str) -> str:
    """On the own-password form the policy's `password` is the new password's field."""
    return "new_password" if name == "password" else name


@router.get("/users", summary="账号管理")
def users_page(
    request: Request,
    session: SessionDep,
    user: AdminPage,
    q: Annotated[str, Query(max_length=64)] = "",
    role: Annotated[str, Query(max_length=16)] = "",
    active: Annotated[str, Query(max_length=1)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    params = {
        "q": q.strip(),
        "role": role if role in {r.value for r in Role} else "",
        "active": active if active in ("0", "1") else "",
    }
    users, total = list_users(
        session=session,
        q=params["q"] or None,
        role=Role(params["role"]) if params["role"] else None,
        active=None if not params["active"] else params["active"] == "1",
        page=page,
        page_size=PAGE_SIZE,
    )
    context = {
        "users": public_users(session=session, users=users),
        "last_login": {u.id: u.last_login_at for u in users},
        "total": total,
        "params": params,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "role_choices": ROLE_CHOICES,
        "active_choices": ACTIVE_CHOICES,
    }
    return render(request, "users/list.html", context, fragments=("results",))


def _center_choices(session: Session) -> list[tuple[str, str]]:
    """The resource centers a city-staff or observer account works for (the province's first)."""
    centers = session.exec(
        select(ResourceCenter).order_by(
            col(ResourceCenter.city_id).is_not(None), col(ResourceCenter.id)
        )
    ).all()
    return [(c.name, center_label(c)) for c in centers]


def _center_value(session: Session, center_id: int | None) -> str:
    center = None if center_id is None else session.get(ResourceCenter, center_id)
    return "" if center is None else center.name


def _new_form(
    request: Request,
    session: Session,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "form": form,
        "errors": errors or {},
        "role_choices": ROLE_CHOICES,
        "district_choices": _district_choices(session),
        "center_choices": _center_choices(session),
    }
    return render(request, "users/new.html", context, status_code=status_code)


@router.get("/users/new", summary="新建账号")
def new_user_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    form = dict.fromkeys(
        ("username", "display_name", "role", "district", "expert_id", "email", "phone"), ""
    )
    form["role"] = Role.district.value
    return _new_form(request, session, form)


@router.post("/users", summary="创建账号")
def create_user_page(
    request: Request,
    session: SessionDep,
    user: AdminPage,
    username: FormText = "",
    display_name: FormText = "",
    role: FormText = "",
    district: FormText = "",
    center: FormText = "",
    expert_id: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    password: FormText = "",
) -> Response:
    form = {
        "username": username.strip()[:64],
        "display_name": display_name.strip()[:64],
        "role": role[:16],
        "district": district[:128],
        "center": center.strip()[:64],
        "expert_id": expert_id.strip()[:32],
        "email": email.strip()[:300],
        "phone": phone.strip()[:64],
    }
    generated = not password
    chosen = password[:256] or temporary_password()
    try:
        data = UserCreate.model_validate(
            {
                **form,
                "password": chosen,
                "district": form["district"] or None,
                "center": form["center"] or None,
                "expert_id": form["expert_id"] or None,
            }
        )
    except ValidationError as exc:
        return _new_form(request, session, form, form_errors(exc), status_code=422)
    try:
        created = create_user(session=session, data=data, user=user)
    except DomainError as exc:
        return _new_form(request, session, form, form_errors(exc), status_code=exc.status_code)
    if generated:
        created.must_change_password = True
        session.add(created)
        return _detail(request, session, created, temporary=chosen, notice=messages.ACCOUNT_CREATED)
    return redirect_with_flash(f"/users/{created.id}", "account_created")


def _detail(
    request: Request,
    session: Session,
    account: User,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    temporary: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    [view] = public_users(session=session, users=[account])
    district = ""
    if view.district_id is not None:
        district = next(
            (
                value
                for value, _ in _district_choices(session)
                if value.endswith("/" + (view.district_name or ""))
            ),
            "",
        )
    form = form or {
        "display_name": view.display_name,
        "role": view.role.value,
        "district": district,
        "expert_id": view.expert_id or "",
        "center": _center_value(session, account.center_id),
        "email": view.email or "",
        "phone": view.phone or "",
        "timezone": view.timezone,
    }
    context: dict[str, Any] = {
        "zone_choices": zone_choices(),
        "account": view,
        "last_login_at": account.last_login_at,
        "created_at": account.created_at,
        "form": form,
        "errors": errors or {},
        "temporary": temporary,
        "notice": notice,
        "role_choices": ROLE_CHOICES,
        "district_choices": _district_choices(session),
        "center_choices": _center_choices(session),
        "is_self": account.id == getattr(request.state.user, "id", None),
    }
    return render(
        request,
        "users/detail.html",
        context,
        status_code=status_code,
        page_url=f"/users/{account.id}",
    )


@router.get("/users/{user_id}", summary="账号详情")
def user_page(
    request: Request, session: SessionDep, user: AdminPage, user_id: RecordId
) -> Response:
    return _detail(request, session, get_user(session=session, user_id=user_id))


@router.post("/users/{user_id}", summary="保存账号")
def update_user_page(
    request: Request,
    session: SessionDep,
    user: AdminPage,
    user_id: RecordId,
    display_name: FormText = "",
    role: FormText = "",
    district: FormText = "",
    center: FormText = "",
    expert_id: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    timezone: FormText = DEFAULT_ZONE,
    timezone_other: FormText = "",
) -> Response:
    account = get_user(session=session, user_id=user_id)
    form = {
        "display_name": display_name.strip()[:64],
        "role": role[:16],
        "district": district[:128],
        "center": center.strip()[:64],
        "expert_id": expert_id.strip()[:32],
        "email": email.strip()[:300],
        "phone": phone.strip()[:64],
        "timezone": posted_zone(timezone, timezone_other),
    }
    try:
        data = UserUpdate.model_validate(
            {
                "display_name": form["display_name"] or None,
                "role": form["role"] or None,
                "district": form["district"] or None,
                "center": form["center"] or None,
                "expert_id": form["expert_id"] or None,
                "email": form["email"],
                "phone": form["phone"],
                "timezone": form["timezone"],
            }
        )
    except ValidationError as exc:
        errors = form_errors(exc)
        return _detail(request, session, account, form=form, errors=errors, status_code=422)
    try:
        update_user(session=session, user_id=user_id, data=data, user=user)
    except DomainError as exc:
        errors = form_errors(exc)
        return _detail(
            request, session, account, form=form, errors=errors, status_code=exc.status_code
        )
    return redirect_with_flash(f"/users/{user_id}", "account_saved")


@router.post("/users/{user_id}/deactivate", summary="停用账号")
def deactivate_page(session: SessionDep, user: AdminPage, user_id: RecordId) -> Response:
    set_active(session=session, user_id=user_id, active=False, user=user)
    return redirect_with_flash(f"/users/{user_id}", "account_deactivated")


@router.post("/users/{user_id}/reactivate", summary="恢复启用账号")
def reactivate_page(session: SessionDep, user: AdminPage, user_id: RecordId) -> Response:
    set_active(session=session, user_id=user_id, active=True, user=user)
    return redirect_with_flash(f"/users/{user_id}", "account_reactivated")


@router.post("/users/{user_id}/logout", summary="强制下线")
def force_logout_page(session: SessionDep, user: AdminPage, user_id: RecordId) -> Response:
    force_logout(session=session, user_id=user_id, user=user)
    return redirect_with_flash(f"/users/{user_id}", "account_logged_out")


@router.post("/users/{user_id}/reset-password", summary="重置密码")
def reset_password_page(
    request: Request, session: SessionDep, user: AdminPage, user_id: RecordId
) -> Response:
    result = reset_password(session=session, user_id=user_id, user=user)
    account = get_user(session=session, user_id=user_id)
    return _detail(request, session, account, temporary=result.temporary_password)


def _password_form(
    request: Request,
    user: User,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"errors": errors or {}, "forced": user.must_change_password}
    return render(request, "users/password.html", context, status_code=status_code)


@router.get("/account/password", summary="修改密码", dependencies=[performs(Action.account)])
def password_page(request: Request, user: PageUser) -> Response:
    return _password_form(request, user)


@router.post(
    "/account/password", summary="保存新密码", dependencies=[performs_reading(Action.account)]
)
def password_submit(
    request: Request,
    session: ReadSessionDep,  # verify (Argon2) without the write lock; the write follows
    user: ReadingPageUser,
    old_password: FormText = "",
    new_password: FormText = "",
    new_password_again: FormText = "",
) -> Response:
    errors: dict[str, str] = {}
    if not old_password:
        errors["old_password"] = messages.OLD_PASSWORD_REQUIRED
    if not new_password:
        errors["new_password"] = messages.NEW_PASSWORD_REQUIRED
    elif new_password != new_password_again:
        errors["new_password_again"] = messages.PASSWORD_MISMATCH
    if errors:
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _password_form(request, user, errors, status_code=422)
    data = PasswordChange(old_password=old_password[:256], new_password=new_password[:256])
    try:
        changed = change_own_password(session=session, user=user, data=data)
    except DomainError as exc:
        return _password_form(
            request, user, form_errors(exc, _new_password_field), status_code=exc.status_code
        )
    # Every session ended with the old password, this one too: open a fresh one here.
    response = redirect_with_flash("/account", "password_changed")
    log_in(request=request, response=response, session=session, user=changed)
    return response
