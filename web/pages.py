"""Shared pieces of the page routes: who may open a page, flash notices, form error mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.errors import Forbidden
from marketplace.validation import describe_error
from marketplace.vocabulary import Role
from web.deps import CurrentUser

FLASH_COOKIE = "heart_flash"
# Flash notices are keys, never free text, so a cookie cannot inject words into a page.
FLASH_MESSAGES = {
    "profile_saved": messages.PROFILE_SAVED,
    "profile_unchanged": messages.PROFILE_UNCHANGED,
    "logged_out": messages.LOGGED_OUT,
}


def _page_user(request: Request, user: CurrentUser) -> User:
    request.state.user = user
    return user


PageUser = Annotated[User, Depends(_page_user)]


def page_roles(*roles: Role) -> Any:
    """A dependency admitting only users with one of `roles` to a page (403 page otherwise)."""
    allowed = {r.value for r in roles}

    def _check(user: PageUser) -> User:
        if user.role not in allowed:
            raise Forbidden(messages.FORBIDDEN)
        return user

    return Depends(_check)


StaffPage = Annotated[User, page_roles(Role.staff, Role.admin)]
ExpertPage = Annotated[User, page_roles(Role.expert)]
DistrictPage = Annotated[User, page_roles(Role.district)]


def is_staff(user: User) -> bool:
    return user.role in (Role.staff.value, Role.admin.value)


def set_flash(response: Response, key: str) -> None:
    """Show FLASH_MESSAGES[key] on the next page this browser renders."""
    response.set_cookie(FLASH_COOKIE, key, max_age=60, path="/", httponly=True, samesite="lax")


def take_flash(request: Request) -> str | None:
    return FLASH_MESSAGES.get(request.cookies.get(FLASH_COOKIE, ""))


def field_errors(exc: ValidationError, rename: Callable[[str], str] = str) -> dict[str, str]:
    """The first error of each top-level field, as a Chinese reason without the field path."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        name = rename(str(loc[0])) if loc else "__all__"
        errors.setdefault(name, describe_error({**error, "loc": ()}))
    return errors
