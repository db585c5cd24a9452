"""Role-aware navigation: the menu lists a page only when its route exists and the role may open it.

Pages of domains still being built appear by themselves once their router is registered in
web/app.py; nothing here needs editing when they land. Items sharing a `group` become one menu
when the user sees two or more of them, so the bar fits one row at 1366 px for every role.
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
    group: str | None = None


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/", "首页", EVERYONE),
    NavItem("/experts", "专家库", EVERYONE),
    NavItem("/requests", "需求与匹配", COORDINATORS_AND_STAFF, group="需求与匹配"),
    NavItem("/matching", "批量匹配", STAFF, group="需求与匹配"),
    NavItem("/bookings", "预约", EVERYONE, group="预约与培训"),
    NavItem("/trainings", "培训报名", COORDINATORS_AND_STAFF, group="预约与培训"),
    NavItem("/availability", "可预约时间", frozenset({Role.expert.value})),
    NavItem("/library", "资料库", EVERYONE),
    NavItem("/services", "服务目录", COORDINATORS_AND_STAFF, group="采购服务"),
    NavItem("/applications", "服务申请", COORDINATORS_AND_STAFF, group="采购服务"),
    NavItem("/reports", "统计报表", STAFF),
    NavItem("/audit", "审计日志", STAFF, group="管理"),
    NavItem("/users", "账号管理", frozenset({Role.admin.value}), group="管理"),
    NavItem("/admin/jobs", "定时任务", frozenset({Role.admin.value}), group="管理"),
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
    """The menu `user` may see: links, and groups of links ({"label", "children"}) where two or
    more of a group are visible; the entry of the current page (and its group) is marked active."""
    if user is None:
        return []
    available = page_paths(app)
    visible = [i for i in NAV_ITEMS if user.role in i.roles and i.path in available]
    sizes: dict[str, int] = {}
    for item in visible:
        if item.group:
            sizes[item.group] = sizes.get(item.group, 0) + 1
    entries: list[dict[str, object]] = []
    groups: dict[str, dict[str, object]] = {}
    for item in visible:
        active = current_path == item.path or (
            item.path != "/" and current_path.startswith(item.path + "/")
        )
        link = {"path": item.path, "label": item.label, "active": active}
        if not item.group or sizes[item.group] < 2:
            entries.append(link)
            continue
        group = groups.get(item.group)
        if group is None:
            group = groups[item.group] = {"label": item.group, "children": [], "active": False}
            entries.append(group)
        group["children"].append(link)  # type: ignore[attr-defined]
        group["active"] = bool(group["active"]) or active
    return entries
