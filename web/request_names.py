"""How pages name a district request: by what the school asked for (the start of its text),
its district and the day it was filed, never by its number (#12)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from sqlmodel import Session, col, select

from marketplace.clock import in_zone
from marketplace.requests.models import DistrictRequest
from marketplace.requests.service import public_views
from marketplace.requests.wording import is_pleasantry
from search.needs import normalise_message, split_clauses

NAME_LENGTH = 20


class _Named(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


def excerpt(text: str, length: int = NAME_LENGTH) -> str:
    """The start of a user's text on one line, cut with … after `length` characters."""
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def need_summary(text: str, need_text: str | None = None, length: int = 60) -> str:
    """What a request asks for, as a session's title: the need the need model read in the
    message (`need_text`) or else the message, without its greetings, thanks and who writes;
    "" when nothing else is left."""
    for source in (need_text, text):
        if not source:
            continue
        clauses = [c for c in split_clauses(normalise_message(source)) if not is_pleasantry(c)]
        if clauses:
            return excerpt("，".join(clauses), length)
    return ""


def request_name(request: _Named, district: str, zone: str) -> str:
    """「初三学生考试焦虑，需要到校…」 · 碑林区 · 12月3日."""
    filed = request.created_at
    if filed.tzinfo is None:  # stored as UTC; SQLite hands it back without the zone
        filed = filed.replace(tzinfo=UTC)
    day = in_zone(filed, zone, "%m月%d日").lstrip("0").replace("月0", "月")
    return f"「{excerpt(request.text)}」 · {district} · {day}"


def request_names(
    *, session: Session, request_ids: Iterable[int], zone: str, district_id: int | None = None
) -> dict[int, str]:
    """The names of these requests by id; with `district_id`, only that district's (a form
    echoing a posted id names no other district's request). Unknown ids are left out."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    query = select(DistrictRequest).where(col(DistrictRequest.id).in_(ids))
    if district_id is not None:
        query = query.where(DistrictRequest.district_id == district_id)
    rows = list(session.exec(query))
    return {
        v.id: request_name(v, v.district.district, zone)
        for v in public_views(session=session, requests=rows)
    }


def posted_request_name(*, session: Session, request_id: str, zone: str, district_id: int) -> str:
    """The name of the request a district's form is filed for (a hidden field), or ""."""
    if not request_id.isdigit() or len(request_id) > 10:
        return ""
    found = request_names(
        session=session, request_ids=[int(request_id)], zone=zone, district_id=district_id
    )
    return found.get(int(request_id), "")
