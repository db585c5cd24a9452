"""Role-aware navigation: the menu lists a page only when its route exists and the role may open it.

Pages of domains still being built appear by themselves once their router is registered in
web/app.py; nothing here needs editing when they land.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import Match, Mount

from marketplace.accounts.models import User
from marketplace.vocabulary import Role

EVERYONE = frozenset(r.value for r in Role)
STAFF = frozenset({Role.staff.value, Role.admin.value})
COORDINATORS_AND_STAFF = STAFF | {Role.district.value}


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    roles: frozenset[str]


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/", "首页", EVERYONE),
    NavItem("/experts", "专家库", EVERYONE),
    NavItem("/requests", "需求与匹配", COORDINATORS_AND_STAFF),
    NavItem("/bookings", "预约", EVERYONE),
    NavItem("/trainings", "培训报名", COORDINATORS_AND_STAFF),
    NavItem("/availability", "可预约时间", frozenset({Role.expert.value})),
    NavItem("/library", "资料库", EVERYONE),
    NavItem("/services", "服务目录", COORDINATORS_AND_STAFF),
    NavItem("/applications", "服务申请", COORDINATORS_AND_STAFF),
    NavItem("/matching", "批量匹配", STAFF),
    NavItem("/reports", "统计报表", STAFF),
    NavItem("/audit", "审计日志", STAFF),
    NavItem("/users", "账号管理", frozenset({Role.admin.value})),
    NavItem("/admin/jobs", "定时任务", frozenset({Role.admin.value})),
    NavItem("/profile", "我的资料", frozenset({Role.expert.value})),
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
        if user.role in item.roles and item.path in available:
            active = current_path == item.path or (
                item.path != "/" and current_path.startswith(item.path + "/")
            )
            items.append({"path": item.path, "label": item.label, "active": active})
    return items
