"""Role-aware navigation: the menu lists a page only when its route exists and the role may open it.

Pages of domains still being built appear by themselves once their router is registered in
web/app.py; nothing here needs editing when they land.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import Match, Mount

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, scope_of


@dataclass(frozen=True)
class NavItem:
    """A menu entry, shown to users whom the policy lets do `action` (with one of `scopes`,
    when given): the same question the page's own route asks."""

    path: str
    label: str
    action: Action
    scopes: frozenset[Scope] = frozenset()

    def shown_to(self, user: User) -> bool:
        scope = scope_of(user, self.action)
        return scope is not None and (not self.scopes or scope in self.scopes)


OWN_PROFILE = frozenset({Scope.own_expert})
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/", "首页", Action.expert_read),
    NavItem("/experts", "专家库", Action.expert_read),
    NavItem("/requests", "需求与匹配", Action.request_read),
    NavItem("/bookings", "预约", Action.booking_read),
    NavItem("/trainings", "培训报名", Action.booking_create),
    NavItem("/availability", "可预约时间", Action.expert_edit, OWN_PROFILE),
    NavItem("/services", "服务目录", Action.service_read),
    NavItem("/applications", "服务申请", Action.application_read),
    NavItem("/matching", "批量匹配", Action.match_run),
    NavItem("/reports", "统计报表", Action.report_read),
    NavItem("/audit", "审计日志", Action.audit_read),
    NavItem("/users", "账号管理", Action.user_manage),
    NavItem("/admin/jobs", "定时任务", Action.user_manage),
    NavItem("/profile", "我的资料", Action.expert_edit, OWN_PROFILE),
)


def has_page(app: FastAPI, path: str) -> bool:
    """Whether the app answers GET `path` with a route (asked through the router, so routers
    included in any way count)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": []}
    return any(
        not isinstance(route, Mount) and route.matches(scope)[0] == Match.FULL
        for route in app.router.routes
    )


def page_paths(app: FastAPI) -> frozenset[str]:
    """The navigation paths the app serves (cached on the app after the first call)."""
    cached = getattr(app.state, "page_paths", None)
    if cached is None:
        cached = frozenset(item.path for item in NAV_ITEMS if has_page(app, item.path))
        app.state.page_paths = cached
    return cached


def nav_for(app: FastAPI, user: User | None, current_path: str) -> list[dict[str, object]]:
    """The menu entries `user` may see, with the entry of the current page marked active."""
    if user is None:
        return []
    available = page_paths(app)
    items = []
    for item in NAV_ITEMS:
        if item.path in available and item.shown_to(user):
            active = current_path == item.path or (
                item.path != "/" and current_path.startswith(item.path + "/")
            )
            items.append({"path": item.path, "label": item.label, "active": active})
    return items
