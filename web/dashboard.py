"""The home page's panels per role. A panel without a loader is shown as "coming soon"; domain
pages give their panel a loader (and a template) when their service lands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from marketplace.accounts.models import User
from marketplace.audit.service import list_entries
from marketplace.experts.service import ExpertFilters, get_expert, list_experts, public_view
from marketplace.vocabulary import ExpertStatus, Role
from web.navigation import STAFF

Loader = Callable[[Session, User], dict[str, Any]]
DISTRICT = frozenset({Role.district.value})
EXPERT = frozenset({Role.expert.value})


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    roles: frozenset[str]
    href: str | None = None
    template: str | None = None  # rendered with the loader's dict as `data`
    load: Loader | None = None  # None: the capability has not landed yet


def _expert_counts(session: Session, user: User) -> dict[str, Any]:
    counts = {}
    for status in ExpertStatus:
        _, counts[status.value] = list_experts(
            session=session, filters=ExpertFilters(status=status.value), page_size=1
        )
    return {"counts": counts, "total": sum(counts.values())}


def _recent_audit(session: Session, user: User) -> dict[str, Any]:
    entries, _ = list_entries(session=session, page_size=6)
    return {"entries": entries}


def _my_profile(session: Session, user: User) -> dict[str, Any]:
    if user.expert_id is None:
        return {"expert": None}
    return {
        "expert": public_view(
            session=session, expert=get_expert(session=session, expert_id=user.expert_id)
        )
    }


def _nothing(session: Session, user: User) -> dict[str, Any]:
    return {}


PANELS: list[Panel] = [
    Panel(
        "find_experts", "查找专家", DISTRICT, "/experts", "dashboard/_find_experts.html", _nothing
    ),
    Panel("my_requests", "我的需求与推荐", DISTRICT, "/requests"),
    Panel("my_bookings", "近期预约", DISTRICT | EXPERT, "/bookings"),
    Panel("my_applications", "服务申请进度", DISTRICT, "/applications"),
    Panel("my_profile", "我的资料", EXPERT, "/profile", "dashboard/_my_profile.html", _my_profile),
    Panel("my_availability", "可预约时间", EXPERT, "/availability"),
    Panel("my_feedback", "收到的反馈", EXPERT),
    Panel(
        "expert_counts",
        "专家库概况",
        STAFF,
        "/experts",
        "dashboard/_expert_counts.html",
        _expert_counts,
    ),
    Panel("pending_applications", "待审批的服务申请", STAFF, "/applications"),
    Panel("open_requests", "未匹配与紧急需求", STAFF, "/requests"),
    Panel("sessions_this_week", "本周会话", STAFF, "/bookings"),
    Panel(
        "recent_audit", "最近操作", STAFF, "/audit", "dashboard/_recent_audit.html", _recent_audit
    ),
]


def panels_for(*, session: Session, user: User) -> list[dict[str, Any]]:
    """The panels `user`'s role sees, each loaded (or marked as not available yet)."""
    shown = []
    for panel in PANELS:
        if user.role not in panel.roles:
            continue
        data = panel.load(session, user) if panel.load is not None else None
        shown.append({"panel": panel, "data": data, "ready": panel.load is not None})
    return shown
