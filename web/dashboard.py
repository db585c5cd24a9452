"""The home page's panels per role. A panel without a loader is shown as "coming soon"; domain
pages give their panel a loader (and a template) when their service lands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, scope_of
from marketplace.audit.service import list_entries
from marketplace.clock import DEFAULT_ZONE, in_zone, utcnow
from marketplace.experts.service import ExpertFilters, get_expert, list_experts, public_view
from marketplace.vocabulary import ExpertStatus
from web.audit_view import describe
from web.request_names import excerpt

Loader = Callable[[Session, User], dict[str, Any]]
LIST = "dashboard/_list.html"
OWN_DISTRICT = frozenset({Scope.own_district})
OWN_EXPERT = frozenset({Scope.own_expert})
OWN_SIDE = OWN_DISTRICT | OWN_EXPERT
CENTER = frozenset({Scope.all, Scope.region})
EVERYTHING = frozenset({Scope.all})


@dataclass(frozen=True)
class Panel:
    """A home-page panel, shown to users whom the policy lets do `action` with one of `scopes`."""

    key: str
    title: str
    action: Action
    scopes: frozenset[Scope]
    href: str | None = None
    template: str | None = None  # rendered with the loader's dict as `data`
    load: Loader | None = None  # None: not shown
    empty: str = "暂无"  # what a list panel says when it has nothing: what to do next, if anything


def _expert_counts(session: Session, user: User) -> dict[str, Any]:
    counts = {}
    for status in ExpertStatus:
        _, counts[status.value] = list_experts(
            session=session, filters=ExpertFilters(status=status.value), page_size=1
        )
    return {"counts": counts, "total": sum(counts.values())}


def _recent_audit(session: Session, user: User) -> dict[str, Any]:
    entries, _ = list_entries(session=session, page_size=6)
    return {"entries": describe(entries, user, session=session)}


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


# Loaders over the domains' own list functions; each returns {"items": [(text, href, note)]}.
PANEL_ITEMS = 5


def _requests(status: str | None) -> Loader:
    def load(session: Session, user: User) -> dict[str, Any]:
        from marketplace.requests.models import RequestStatus
        from marketplace.requests.service import list_requests

        items, total = list_requests(
            session=session,
            user=user,
            status=RequestStatus(status) if status else None,
            page_size=PANEL_ITEMS,
        )
        rows = [
            (
                # named by what the school asked for, as the request list shows it
                excerpt(r.text, 30),
                f"/requests/{r.id}",
                f"{messages.SERVICE_TYPE_LABELS.get(r.service_type, r.service_type)}"
                f" · {r.district.district} · "
                + messages.REQUEST_STATUS_LABELS.get(r.status, r.status)
                + (
                    ""
                    if r.urgency == "normal"
                    else " · " + messages.URGENCY_LABELS.get(r.urgency, "")
                ),
            )
            for r in items
        ]
        return {"items": rows, "total": total}

    return load


def _applications(status: str | None) -> Loader:
    def load(session: Session, user: User) -> dict[str, Any]:
        from marketplace.applications.models import ApplicationStatus
        from marketplace.applications.service import list_applications, public_views

        found = list_applications(
            session=session,
            user=user,
            status=ApplicationStatus(status) if status else None,
        )
        views = public_views(session=session, applications=list(reversed(found))[:PANEL_ITEMS])
        rows = [
            (
                f"{a.service_name} · {a.district_name}",
                "/applications",
                messages.APPLICATION_STATUS_LABELS.get(a.status, a.status),
            )
            for a in views
        ]
        return {"items": rows, "total": len(found)}

    return load


def _upcoming_bookings(days: int) -> Loader:
    def load(session: Session, user: User) -> dict[str, Any]:
        from booking.sessions.service import list_bookings, public_view

        now = utcnow()
        found = list_bookings(session=session, user=user, start=now, end=now + timedelta(days=days))
        views = [public_view(session=session, booking=b) for b in found[:PANEL_ITEMS]]
        rows = [
            (
                b.title,
                f"/bookings#booking-{b.id}",
                f"{in_zone(b.start, user.timezone, '%m-%d %H:%M', named=user.timezone != DEFAULT_ZONE)} · "
                + messages.BOOKING_STATUS_LABELS.get(b.status, b.status),
            )
            for b in views
        ]
        return {"items": rows, "total": len(found)}

    return load


def _my_availability(session: Session, user: User) -> dict[str, Any]:
    """The expert's weekly hours and their next free slots."""
    from booking.schedule.models import AvailabilityRule
    from booking.schedule.week import next_slots

    rules = session.exec(
        select(AvailabilityRule)
        .where(AvailabilityRule.expert_id == (user.expert_id or ""))
        .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_minute))
    ).all()
    rows = [
        (
            f"周{'一二三四五六日'[r.weekday]} {r.start_minute // 60:02d}:{r.start_minute % 60:02d}"
            f"–{r.end_minute // 60:02d}:{r.end_minute % 60:02d}",
            "/availability",
            "",
        )
        for r in rules[:PANEL_ITEMS]
    ]
    if rules and user.expert_id:
        upcoming = next_slots(session=session, expert_id=user.expert_id, count=1)
        if upcoming:
            rows.append(("最近可约", "/availability", f"{upcoming[0][0]:%m-%d %H:%M}"))
        else:
            rows.append(("未来两周", "/availability", "已约满"))
    return {"items": rows, "total": len(rules)}


def _my_feedback(session: Session, user: User) -> dict[str, Any]:
    """The expert's latest ratings."""
    from web.routes.pages_sessions import feedback_received

    items = feedback_received(session, user, limit=PANEL_ITEMS)
    rows = [
        (
            i["booking"].title,
            "/bookings#feedback-title",
            "★" * i["rating"].score
            + (f" {i['rating'].feedback[:30]}" if i["rating"].feedback else ""),
        )
        for i in items
    ]
    return {"items": rows, "total": len(items)}


def _unread_notifications(session: Session, user: User) -> dict[str, Any]:
    """The user's newest unread inbox entries."""
    from marketplace.notifications.service import list_notifications, unread_count

    entries = list_notifications(
        session=session, user_id=user.id or 0, unread_only=True, limit=PANEL_ITEMS
    )
    rows = [
        (e.title, "/notifications", messages.NOTIFICATION_KIND_LABELS.get(e.kind, ""))
        for e in entries
    ]
    return {"items": rows, "total": unread_count(session=session, user_id=user.id or 0)}


PANELS: list[Panel] = [
    Panel(
        "unread_notifications",
        "未读通知",
        Action.expert_read,  # everyone who can open the directory has an inbox
        frozenset(Scope),
        "/notifications",
        LIST,
        _unread_notifications,
        empty="没有未读通知。",
    ),
    Panel(
        "find_experts",
        "查找专家",
        Action.request_file,
        OWN_DISTRICT,
        "/experts",
        "dashboard/_find_experts.html",
        _nothing,
    ),
    Panel(
        "my_requests",
        "我的需求与推荐",
        Action.request_file,
        OWN_DISTRICT,
        "/requests",
        LIST,
        _requests(None),
        empty="还没有需求：在「需求与匹配」中用自己的话描述学校遇到的情况，即可得到专家推荐。",
    ),
    Panel(
        "my_bookings",
        "近期预约",
        Action.booking_read,
        OWN_SIDE,
        "/bookings",
        LIST,
        _upcoming_bookings(30),
        empty="30 天内没有预约。在专家库找到合适的专家后，可在其主页预约空闲时段。",
    ),
    Panel(
        "my_applications",
        "服务申请进度",
        Action.application_file,
        OWN_DISTRICT,
        "/applications",
        LIST,
        _applications(None),
        empty="还没有服务申请。测评工具、培训名额、督导时数等可在「采购服务」中申请。",
    ),
    Panel(
        "my_profile",
        "我的资料",
        Action.expert_edit,
        OWN_EXPERT,
        "/profile",
        "dashboard/_my_profile.html",
        _my_profile,
    ),
    Panel(
        "my_availability",
        "可预约时间",
        Action.expert_edit,
        OWN_EXPERT,
        "/availability",
        LIST,
        _my_availability,
        empty="还没有设置可预约时间，协调员暂时无法预约您：请添加每周可预约的时段。",
    ),
    Panel(
        "my_feedback",
        "收到的反馈",
        Action.expert_edit,
        OWN_EXPERT,
        "/bookings#feedback-title",
        LIST,
        _my_feedback,
        empty="还没有收到反馈。会话结束后，协调员的评价会显示在这里。",
    ),
    Panel(
        "expert_counts",
        "专家库概况",
        Action.expert_manage,
        EVERYTHING,
        "/experts",
        "dashboard/_expert_counts.html",
        _expert_counts,
    ),
    Panel(
        "pending_applications",
        "待审批的服务申请",
        Action.application_read,
        CENTER,
        "/applications?status=submitted",
        LIST,
        _applications("submitted"),
        empty="没有待审批的申请。",
    ),
    Panel(
        "open_requests",
        "未匹配的需求",
        Action.request_read,
        CENTER,
        "/requests?status=submitted",
        LIST,
        _requests("submitted"),
        empty="没有等待匹配的需求。",
    ),
    Panel(
        "sessions_this_week",
        "未来 7 天的会话",
        Action.booking_read,
        CENTER,
        "/bookings",
        LIST,
        _upcoming_bookings(7),
        empty="未来 7 天没有会话。",
    ),
    Panel(
        "reports",
        "统计报表",
        Action.report_read,
        CENTER,
        "/reports",
        "dashboard/_reports.html",
        _nothing,
    ),
    Panel(
        "recent_audit",
        "最近操作",
        Action.audit_read,
        EVERYTHING,
        "/audit",
        "dashboard/_recent_audit.html",
        _recent_audit,
    ),
]


def panels_for(*, session: Session, user: User) -> list[dict[str, Any]]:
    """The panels `user`'s role sees, each loaded."""
    shown = []
    for panel in PANELS:
        if scope_of(user, panel.action) not in panel.scopes:
            continue
        if panel.load is None or panel.template is None:
            continue  # a panel is shown only once it has something to show (no placeholders)
        shown.append({"panel": panel, "data": panel.load(session, user)})
    return shown
