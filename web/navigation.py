"""Role-aware navigation: the menu lists a page only when its route exists and the role may open it.

Pages of domains still being built appear by themselves once their router is registered in
web/app.py; nothing here needs editing when they land. Items sharing a `group` become one menu
when the user sees two or more of them, so the bar fits one row at 1366 px for every role.
"""

from __future__ import annotations

import re
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
    group: str | None = None
    # Pages elsewhere in the URL space that belong to this entry (a regular expression): an
    # expert's status and edit pages are the pool console's, not the directory's.
    also: str = ""

    def shown_to(self, user: User) -> bool:
        scope = scope_of(user, self.action)
        return scope is not None and (not self.scopes or scope in self.scopes)


OWN_PROFILE = frozenset({Scope.own_expert})
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/", "首页", Action.expert_read),
    NavItem("/experts", "专家库", Action.expert_read),
    NavItem("/requests", "需求与匹配", Action.request_read, group="需求与匹配"),
    NavItem("/matching", "批量匹配", Action.match_run, group="需求与匹配"),
    NavItem("/bookings", "预约", Action.booking_read, group="预约与培训"),
    NavItem("/time-requests", "预约意向", Action.time_request_read, group="预约与培训"),
    NavItem("/trainings", "培训报名", Action.booking_create, group="预约与培训"),
    NavItem("/availability", "可预约时间", Action.expert_edit, OWN_PROFILE),
    NavItem("/library", "资料库", Action.expert_read),
    NavItem("/services", "服务目录", Action.service_read, group="采购服务"),
    NavItem("/applications", "服务申请", Action.application_read, group="采购服务"),
    NavItem("/reports", "统计报表", Action.report_read),
    NavItem("/expert-groups", "专家指导组", Action.expert_group, group="管理"),
    NavItem(
        "/expert-pool",
        "专家管理",
        Action.expert_pool,
        group="管理",
        also=r"^/experts/[^/]+/(status|edit)$",
    ),
    NavItem("/audit", "审计日志", Action.audit_read, group="管理"),
    NavItem("/users", "账号管理", Action.user_manage, group="管理"),
    NavItem("/admin/jobs", "定时任务", Action.ops_manage, group="管理"),
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
    """The menu `user` may see: links, and groups of links ({"label", "children"}) where two or
    more of a group are visible; the entry of the current page (and its group) is marked active."""
    if user is None:
        return []
    available = page_paths(app)
    visible = [i for i in NAV_ITEMS if i.path in available and i.shown_to(user)]
    sizes: dict[str, int] = {}
    for item in visible:
        if item.group:
            sizes[item.group] = sizes.get(item.group, 0) + 1
    entries: list[dict[str, object]] = []
    groups: dict[str, dict[str, object]] = {}
    owner = next((i for i in visible if i.also and re.match(i.also, current_path)), None)
    for item in visible:
        active = (item is owner) or (
            owner is None
            and (
                current_path == item.path
                or (item.path != "/" and current_path.startswith(item.path + "/"))
            )
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
