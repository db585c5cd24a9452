"""Jinja2 templates for the pages: the shell's context, filters, and page-or-fragment rendering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import Response
from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2_fragments.fastapi import Jinja2Blocks

from marketplace import messages
from marketplace.clock import DEFAULT_ZONE, in_zone, zone_label
from web.navigation import nav_for
from web.request_names import excerpt, request_name

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page_url_after_post(request: Request) -> str | None:
    """The address a page rendered in answer to a plain form's POST stands for: the page the form
    was on (the same-origin Referer), so that the address bar shows it and a refresh reloads it
    instead of posting again (or answering 405). None for htmx requests, which keep the page's
    address themselves, and for anything but a POST."""
    if request.method != "POST" or is_htmx(request):
        return None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith("/"):
        return None
    if referer.path.startswith("//") or any(c in referer.path for c in "\\\r\n\t"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def _shell_context(request: Request) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    login = getattr(request.state, "login_session", None)
    from web.pages import take_flash

    return {
        "flash": take_flash(request),
        "current_user": user,
        "csrf_token": login.csrf_token if login is not None else "",
        "nav": nav_for(request.app, user, request.url.path),
        "unread_notifications": getattr(request.state, "unread_notifications", 0),
        "is_htmx": is_htmx(request),
    }


def viewer_zone(context: Mapping[str, Any]) -> str:
    """The time zone of whoever the page is for: their own, Beijing time when anonymous."""
    user = context.get("current_user")
    return getattr(user, "timezone", "") or DEFAULT_ZONE


@pass_context
def local_time(
    context: Context,
    value: datetime | None,
    fmt: str = "%Y-%m-%d %H:%M",
    zone: str = "",
    named: bool = False,
) -> str:
    """The one way pages show a time: in the viewer's own zone (or `zone`, e.g. an expert's on
    their availability page), followed by the zone's name when `named`: 10:00（北京时间）."""
    return in_zone(value, zone or viewer_zone(context), fmt, named=named)


@pass_context
def zone_name(context: Context, zone: str = "") -> str:
    """The viewer's zone (or `zone`) as pages name it: 北京时间, 伦敦时间 / Europe/London."""
    return zone_label(zone or viewer_zone(context))


@pass_context
def request_title(context: Context, request: Any) -> str:
    """A district request (the API shape) as pages name it: text, district, day filed."""
    return request_name(request, request.district.district, viewer_zone(context))


def zone_choices() -> list[tuple[str, str]]:
    """The zones account forms offer by their Chinese names (北京时间, 伦敦时间; the stored value
    stays the IANA name, and any other IANA name can be typed under 其他时区)."""
    return [(DEFAULT_ZONE, messages.ZONE_BEIJING)] + [
        (name, messages.ZONE_CITY_ONLY.format(city=city))
        for name, city in messages.ZONE_CITY_NAMES.items()
    ]


def posted_zone(timezone: str, timezone_other: str) -> str:
    """The zone an account form chose: the one typed under 其他时区, else the list's."""
    return (timezone_other.strip() or timezone.strip())[:64]


def query_with(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string of `params` with `changes` applied; empty values are left out."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def quantity(value: float | None) -> str:
    """A quantity without a needless ".0" (12.0 -> 12, 2.5 -> 2.5)."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def label_pair(value: str, labels: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(value, its Chinese label) for select options."""
    return (value, (labels or {}).get(value, value))


def minutes_pair(minutes: int) -> tuple[str, str]:
    """(minutes, a Chinese duration label) for select options: 90 -> ("90", "1 小时 30 分钟")."""
    hours, rest = divmod(int(minutes), 60)
    label = " ".join(
        part for part in (f"{hours} 小时" if hours else "", f"{rest} 分钟" if rest else "") if part
    )
    return (str(minutes), label)


templates = Jinja2Blocks(directory=TEMPLATES_DIR, context_processors=[_shell_context])
templates.env.filters["local_time"] = local_time
templates.env.globals["zone_name"] = zone_name
templates.env.filters["label_pair"] = label_pair
templates.env.filters["request_title"] = request_title
templates.env.filters["excerpt"] = excerpt
templates.env.filters["quantity"] = quantity
templates.env.filters["minutes_pair"] = minutes_pair
# Audit details show Chinese as Chinese, not \uXXXX escapes.
templates.env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
templates.env.globals.update(
    query_with=query_with,
    DOMAIN_LABELS=messages.DOMAIN_LABELS,
    FORMAT_LABELS=messages.FORMAT_LABELS,
    SERVICE_TYPE_LABELS=messages.SERVICE_TYPE_LABELS,
    STATUS_LABELS=messages.STATUS_LABELS,
    ROLE_LABELS=messages.ROLE_LABELS,
    NOTIFICATION_KIND_LABELS=messages.NOTIFICATION_KIND_LABELS,
    SERVICE_KIND_LABELS=getattr(messages, "SERVICE_KIND_LABELS", {}),
    APPLICATION_STATUS_LABELS=getattr(messages, "APPLICATION_STATUS_LABELS", {}),
    REQUEST_STATUS_LABELS=messages.REQUEST_STATUS_LABELS,
    URGENCY_LABELS=getattr(messages, "URGENCY_LABELS", {}),
    BOOKING_KIND_LABELS=messages.BOOKING_KIND_LABELS,
    BOOKING_STATUS_LABELS=messages.BOOKING_STATUS_LABELS,
    SYSTEM_ACTOR_LABELS=messages.SYSTEM_ACTOR_LABELS,
    FORM_CHECK_MESSAGES=messages.FORM_CHECK_MESSAGES,
)
# Shared macros (csrf_field, form fields, pagination) as a global, so fragments see them too.
templates.env.globals["ui"] = templates.env.get_template("_ui.html").module


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    fragments: Iterable[str] = (),
    block: str | None = None,
    headers: Mapping[str, str] | None = None,
    page_url: str | None = None,
) -> Response:
    """The whole page, or for an htmx request aimed at one of `fragments` (an element id) just that
    block of the same template: the block is named like the element it fills. `block` forces one.
    After a plain form's POST the page names the address it stands for (`page_url`, default: the
    page the form was on), which the browser shows instead of the POST's."""
    target = request.headers.get("HX-Target")
    if (
        block is None
        and is_htmx(request)
        and request.headers.get("HX-Boosted") != "true"
        and target in set(fragments)
    ):
        block = target
    context = dict(context or {})
    context["page_url"] = page_url or page_url_after_post(request)
    response = templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers, block_name=block
    )
    if block is None and request.cookies.get("heart_flash"):
        response.delete_cookie("heart_flash", path="/")
    # The same URL answers with a page or a fragment, and pages show private data.
    response.headers["Vary"] = "HX-Request, HX-Target, Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response
