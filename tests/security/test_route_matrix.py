"""Role × route matrix, generated from the permission policy and the app's route table.

Every route declares the action it performs (`web.deps.performs`/`allowed_to`, the pages'
`page_allows`, or `PUBLIC_ROUTE`); a route without a declaration fails. Each route is called
as every actor of the world (anonymous, a district coordinator of the owning district and of
another, the owning expert and another, province staff, the staff and an observer of the
owning city 西安市 and of another city 宝鸡市, an admin), and the expected outcome is computed
from `POLICY`: no login → login; no scope for the action → deny; a path naming a record →
ok exactly when the policy's `permits` covers the record's owner (its district, expert, center
or account). Path parameters always name records of the *own* district and expert, so the
"other" actors are IDOR attempts (within a city and across cities): they must be refused, and
no refused actor's response may contain the owner's secrets. Each actor's request runs in its
own savepoint, so a successful change does not alter what the next actor sees.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts

from marketplace.accounts.permissions import POLICY, PUBLIC, Action, Owner, Scope, permits, scope_of
from marketplace.vocabulary import Role
from tests.booking.conftest import WORKDAY
from tests.conftest import TEST_PASSWORD, expert_record
from tests.security.conftest import Matrix, rolled_back
from tests.security.world import ACTORS, BUSY_ICS, World, booking_body, slot_day

# Outcomes: "ok" = allowed and found (2xx/3xx, or 409/422 for a refused state or body);
# "deny" = 403 or 404; "login" = 401 for the API, a redirect to /login for pages;
# "any" = no server error.
OK, DENY, LOGIN, ANY = "ok", "deny", "login", "any"

Body = Callable[[World], object]


@dataclass(frozen=True)
class Call:
    """How to call a route: its body, and which world record a parameter names."""

    json: Body | None = None
    form: Body | None = None
    files: Body | None = None
    params: Body | None = None
    ids: dict[str, str] = field(default_factory=dict)  # path parameter → World attribute
    owner: str | None = None  # the record named outside the path (a form or query field)
    capability: bool = False  # the path itself grants access (feed tokens): no leak check


NO_BODY = Call()


def reason(_: World) -> dict:
    return {"reason": "时间冲突"}


def slots_query(_: World) -> dict:
    day = slot_day().isoformat()
    return {"start": day, "end": day, "duration": 60}


def reschedule(world: World) -> dict:
    body = booking_body(world, hour=15)
    return {"start": body["start"], "end": body["end"]}


def reschedule_form(world: World) -> dict:
    start = booking_body(world, hour=15)["start"]
    return {"day": start[:10], "start_time": "15:00", "end_time": "16:00", "form_nonce": "n-5"}


def request_body(_: World) -> dict:
    return {
        "text": "教师需要团体辅导督导",
        "service_type": "supervision",
        "format": "online",
        "hours": 2,
        "window_start": "2027-03-01",
        "window_end": "2027-03-31",
    }


def own_expert(world: World) -> dict:
    return {"expert_id": world.expert_id}


def availability_form(world: World) -> dict:
    return {**own_expert(world), "w_day": ["0"], "w_start": ["09:00"], "w_end": ["12:00"]}


def time_request_body(world: World) -> dict:
    day = slot_day()
    return {
        "expert_id": world.expert_id,
        "kind": "supervision",
        "format": "online",
        "earliest_day": day.isoformat(),
        "latest_day": (day + timedelta(days=3)).isoformat(),
        "day_part": "afternoon",
        "title": "新的意向",
    }


def offer_body(world: World) -> dict:
    body = booking_body(world, hour=14)
    return {"start": body["start"], "end": body["end"]}


def offer_form(_: World) -> dict:
    return {"day": slot_day().isoformat(), "start_time": "14:00"}


def request_form(_: World) -> dict:
    return {**request_body(_), "form_nonce": "n-1"}


# Bodies of the routes that need one; every other route is called bare.
CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/expert-pool/new"): Call(
        form=lambda w: {
            "domain": "psychology",
            "name": "矩阵新专家",
            "organization": "矩阵中学",
            "region": "陕西省|西安市|碑林区",
            "specialties": "厌学",
            "years_experience": "3",
            "monthly_capacity_hours": "4",
            "formats": ["online"],
            "service_types": ["consultation"],
        },
    ),
    ("POST", "/experts/{expert_id}/edit"): Call(
        form=lambda w: {"name": "改名", "domain": "psychology"}
    ),
    ("POST", "/expert-pool/import"): Call(
        files=lambda w: {
            "file": ("e.jsonl", json.dumps(expert_record(id="MX1")).encode(), "text/plain")
        },
    ),
    ("POST", "/library/{resource_id}/versions"): Call(
        form=lambda w: {"change_reason": "更新了第二课时"}
    ),
    ("POST", "/library/{resource_id}/edit"): Call(
        form=lambda w: {"title": "改名的课纲", "intent": "save"}
    ),
    ("POST", "/api/time-requests"): Call(json=time_request_body),
    ("POST", "/api/time-requests/{time_request_id}/offer"): Call(json=offer_body),
    ("POST", "/api/time-requests/{time_request_id}/decline"): Call(json=reason),
    ("GET", "/time-requests/new"): Call(params=own_expert),
    ("POST", "/time-requests"): Call(form=lambda w: {**time_request_body(w), "form_nonce": "n-10"}),
    ("POST", "/time-requests/{time_request_id}/offer"): Call(form=offer_form),
    ("POST", "/time-requests/{time_request_id}/decline"): Call(form=reason),
    ("POST", "/api/centers/{center_id}/experts"): Call(
        json=lambda w: {"expert_id": w.other_expert_id, "zone_ids": []}
    ),
    ("POST", "/expert-groups/{center_id}/members"): Call(
        form=lambda w: {"expert_id": w.other_expert_id}
    ),
    ("POST", "/api/auth/token"): Call(
        form=lambda w: {"username": w.users["district_own"].username, "password": TEST_PASSWORD}
    ),
    ("PATCH", "/api/me"): Call(json=lambda w: {"phone": "029-12345678"}),
    ("POST", "/account"): Call(form=lambda w: {"phone": "029-12345678"}),
    ("POST", "/api/experts"): Call(json=lambda w: expert_record(id="SX9")),
    ("PATCH", "/api/experts/{expert_id}"): Call(json=lambda w: {"bio": "新的简介"}),
    ("GET", "/api/search"): Call(params=lambda w: {"q": "危机干预"}),
    ("PUT", "/api/experts/{expert_id}/availability"): Call(json=lambda w: WORKDAY),
    ("GET", "/api/experts/{expert_id}/slots"): Call(params=slots_query),
    ("POST", "/api/experts/{expert_id}/busy-calendars/upload"): Call(
        files=lambda w: {"file": ("busy.ics", BUSY_ICS, "text/calendar")}
    ),
    ("POST", "/api/experts/{expert_id}/busy-calendars"): Call(
        json=lambda w: {"url": "http://127.0.0.1:9/busy.ics", "name": "外部日历"}
    ),
    ("GET", "/api/feeds/{token}.ics"): Call(capability=True),
    ("POST", "/api/bookings"): Call(json=lambda w: booking_body(w)),
    ("POST", "/api/bookings/{booking_id}/decline"): Call(json=reason),
    ("POST", "/api/bookings/{booking_id}/cancel"): Call(json=reason),
    ("POST", "/api/bookings/{booking_id}/reschedule"): Call(json=reschedule),
    ("POST", "/api/bookings/{booking_id}/registrations"): Call(
        json=lambda w: {"school": "第一中学", "participants": 3}, ids={"booking_id": "training_id"}
    ),
    ("GET", "/api/bookings/{booking_id}/registrations"): Call(ids={"booking_id": "training_id"}),
    ("POST", "/api/bookings/{booking_id}/rating"): Call(
        json=lambda w: {"score": 5, "feedback": "很好"}
    ),
    ("POST", "/api/services"): Call(
        json=lambda w: __import__(
            "tests.web.allocation_support", fromlist=["service_body"]
        ).service_body(name="新服务")
    ),
    ("PATCH", "/api/services/{service_id}"): Call(json=lambda w: {"description": "更新"}),
    ("POST", "/api/services/{service_id}/fair-proposal/confirm"): Call(
        json=lambda w: {"fingerprint": "stale-fingerprint"}
    ),
    ("POST", "/api/applications"): Call(
        json=lambda w: {"service_id": w.service_id, "quantity": 1, "purpose": "教师培训"}
    ),
    ("POST", "/api/applications/{application_id}/reject"): Call(json=reason),
    ("POST", "/api/applications/{application_id}/usage"): Call(
        json=lambda w: {"quantity": 1, "reference": "R-1", "note": ""}
    ),
    ("POST", "/api/resources"): Call(
        json=lambda w: {"kind": "course", "title": "新课纲", "body": "课程内容"}
    ),
    ("PATCH", "/api/resources/{resource_id}"): Call(json=lambda w: {"title": "改名"}),
    ("POST", "/api/resources/{resource_id}/files"): Call(
        files=lambda w: {"file": ("a.png", b"\x89PNG\r\n\x1a\n1", "image/png")}
    ),
    ("POST", "/api/resources/{resource_id}/request-changes"): Call(json=reason),
    ("POST", "/api/resources/{resource_id}/reject"): Call(json=reason),
    ("POST", "/api/resources/{resource_id}/retire"): Call(json=reason),
    ("POST", "/api/requests"): Call(json=request_body),
    ("PATCH", "/api/requests/{request_id}"): Call(json=lambda w: {"hours": 3}),
    ("POST", "/api/requests/{request_id}/status"): Call(json=lambda w: {"status": "withdrawn"}),
    ("POST", "/api/matching/runs"): Call(
        owner="request_id", json=lambda w: {"request_ids": [w.request_id]}
    ),
    ("POST", "/api/matching/runs/{run_id}/adjust"): Call(
        json=lambda w: {"add": [{"request_id": w.request_id, "expert_id": "SX2"}]}
    ),
    ("POST", "/api/users"): Call(
        json=lambda w: {"username": "new-coord", "password": "Pass-2026-x", "role": "staff"}
    ),
    ("PATCH", "/api/users/{user_id}"): Call(json=lambda w: {"display_name": "新名字"}),
    ("POST", "/api/me/password"): Call(
        json=lambda w: {"old_password": "wrong-1", "new_password": "Better-2026"}
    ),
    ("POST", "/login"): Call(form=lambda w: {"username": "x", "password": "y"}),
    ("POST", "/profile"): Call(form=lambda w: {"bio": "新的简介"}),
    ("POST", "/users"): Call(
        form=lambda w: {"username": "page-new", "role": "staff", "display_name": "新同事"}
    ),
    ("POST", "/users/{user_id}"): Call(
        form=lambda w: {"display_name": "新名字", "role": "district", "district": "西安市/碑林区"}
    ),
    ("POST", "/account/password"): Call(
        form=lambda w: {
            "old_password": "wrong-1",
            "new_password": "Lantern-Quiet-4127",
            "new_password_again": "Lantern-Quiet-4127",
        }
    ),
    ("POST", "/experts/{expert_id}/status"): Call(
        form=lambda w: {"status": "paused", "reason": "资质复核"}
    ),
    ("POST", "/services"): Call(
        form=lambda w: {
            "name": "页面新服务",
            "kind": "hotline",
            "unit": "次",
            "quantity": "5",
            "valid_from": "2026-01-01",
            "valid_to": "2030-01-01",
        }
    ),
    ("POST", "/services/{service_id}"): Call(form=lambda w: {"name": "改名"}),
    ("GET", "/applications/new"): Call(params=lambda w: {"service_id": w.service_id}),
    ("POST", "/applications"): Call(
        form=lambda w: {"service_id": w.service_id, "quantity": "1", "purpose": "培训"}
    ),
    ("POST", "/applications/{application_id}/reject"): Call(form=lambda w: {"reason": "不符合"}),
    ("POST", "/requests"): Call(form=request_form),
    ("GET", "/bookings/new"): Call(
        params=lambda w: {
            k: v for k, v in booking_body(w).items() if k in ("expert_id", "start", "end")
        }
    ),
    ("POST", "/bookings"): Call(form=lambda w: {**booking_body(w), "form_nonce": "n-2"}),
    ("POST", "/bookings/{booking_id}/decline"): Call(form=reason),
    ("POST", "/bookings/{booking_id}/cancel"): Call(form=reason),
    ("GET", "/availability"): Call(params=own_expert, owner="expert_id"),
    ("POST", "/availability"): Call(form=availability_form, owner="expert_id"),
    ("POST", "/availability/calendars/upload"): Call(
        owner="expert_id",
        form=own_expert,
        files=lambda w: {"file": ("busy.ics", BUSY_ICS, "text/calendar")},
    ),
    ("POST", "/availability/calendars/feed"): Call(
        owner="expert_id",
        form=lambda w: {**own_expert(w), "url": "http://127.0.0.1:9/busy.ics", "name": "外部"},
    ),
    ("POST", "/availability/calendars/{calendar_id}/delete"): Call(form=own_expert),
    ("POST", "/bookings/{booking_id}/reschedule"): Call(form=reschedule_form),
    ("POST", "/bookings/{booking_id}/rating"): Call(
        form=lambda w: {"score": "5", "feedback": "很好", "form_nonce": "n-3"}
    ),
    ("POST", "/trainings/{booking_id}/registrations"): Call(
        form=lambda w: {"school": "第一中学", "participants": "3", "form_nonce": "n-4"},
        ids={"booking_id": "training_id"},
    ),
    ("POST", "/library"): Call(
        form=lambda w: {"kind": "course", "title": "新课纲", "body": "内容", "form_nonce": "n-9"}
    ),
    ("POST", "/library/{resource_id}/review"): Call(form=lambda w: {"action": "publish"}),
    ("POST", "/library/{resource_id}/files"): Call(
        files=lambda w: {"file": ("a.png", b"\x89PNG\r\n\x1a\n1", "image/png")}
    ),
    ("POST", "/matching/runs"): Call(form=lambda w: {"method": "greedy"}),
    ("POST", "/matching/runs/{run_id}/adjust"): Call(
        form=lambda w: {"action": "add", "request_id": w.request_id, "expert_id": "SX2"}
    ),
    ("GET", "/matching/runs/{run_id}/alternates"): Call(
        params=lambda w: {"request_id": w.request_id, "name": "专家"}
    ),
    ("POST", "/admin/jobs/{name}/run"): Call(ids={"name": "job_name"}),
}

# Framework routes outside the matrix: the API schema and its viewers carry no data.
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# /metrics answers by client network or bearer token, never by role; the test client's address
# ("testclient") is in no allowed network, so everyone is refused.
BY_NETWORK = {("GET", "/metrics")}
# The world's library resource is an unpublished submission: reading it is its author's and
# the reviewers' business (the submitters' row of the policy), not the published library's.
UNPUBLISHED_READS = {Action.resource_read: Action.resource_submit}


@dataclass(frozen=True)
class Declaration:
    action: str  # an Action, or PUBLIC
    scopes: tuple[Scope, ...] = ()  # a page open only to these scopes of the action


def declarations(dependant) -> list[Declaration]:  # type: ignore[no-untyped-def]
    found = []
    for dependency in dependant.dependencies:
        action = getattr(dependency.call, "action", None)
        if action is not None:
            found.append(Declaration(action, tuple(getattr(dependency.call, "scopes", ()))))
        found += declarations(dependency)
    return found


def served_routes(app) -> dict[tuple[str, str], list[Declaration]]:  # type: ignore[no-untyped-def]
    routes = {}
    for route in iter_route_contexts(app.routes):
        if route.path in FRAMEWORK or not route.methods:
            continue
        for method in route.methods - {"HEAD"}:
            routes[(method, route.path)] = declarations(route.dependant)
    return routes


def test_every_route_declares_the_action_it_performs(app):
    served = served_routes(app)
    undeclared = sorted(key for key, found in served.items() if not found)
    ambiguous = sorted(key for key, found in served.items() if len({d.action for d in found}) > 1)
    assert not undeclared, f"routes that declare no action: {undeclared}"
    assert not ambiguous, f"routes that declare two actions: {ambiguous}"
    stale = sorted(CALLS.keys() - served.keys())
    assert not stale, f"calls for routes the app no longer serves: {stale}"


def test_every_action_a_person_may_do_is_performed_by_some_route_and_no_system_only_one(app):
    """Actions only the system principal holds (the crisis escalation job) are performed by
    jobs and the CLI; no route declares them, so no person reaches them through the web."""
    performed = {d.action for found in served_routes(app).values() for d in found}
    for_people = {a for a, row in POLICY.items() if any(isinstance(r, Role) for r in row)}
    assert for_people - performed == set()
    assert (set(POLICY) - for_people) & performed == set()


# --- the expectations, from the policy --------------------------------------------------------


def record_owner(path: str, call: Call, world: World) -> tuple[str, Owner] | None:
    """The record a call names (the last path parameter naming one, else `call.owner`)."""
    owners = world.owners()
    names = [n for n in re.findall(r"{(\w+)}", path) if n in owners]
    if call.owner:
        names.append(call.owner)
    if not names:
        return None
    # A record inside a center's group is the center's to keep (its expert is who is kept).
    name = "center_id" if "center_id" in names else names[-1]
    return name, owners[call.ids.get(name, name)]


def expected(matrix: Matrix, method: str, path: str, decl: Declaration, actor: str) -> str:
    if (method, path) in BY_NETWORK:
        return DENY
    if decl.action == PUBLIC:
        return ANY if method == "POST" else OK  # login/logout answer forms of their own
    if actor == "anonymous":
        return LOGIN
    user, action = matrix.world.users[actor], Action(decl.action)
    scope = scope_of(user, action)
    if scope is None or (decl.scopes and scope not in decl.scopes):
        return DENY
    call = CALLS.get((method, path), NO_BODY)
    named = record_owner(path, call, matrix.world)
    if named is None:
        return OK
    name, owner = named
    if name in ("resource_id", "file_id"):
        action = UNPUBLISHED_READS.get(action, action)
    return OK if permits(matrix.session, user, action, owner) else DENY


# --- running the matrix -----------------------------------------------------------------------
# One world per backend for the whole module (tests/security/conftest.py): every actor's request
# runs in a savepoint that is rolled back afterwards.


def fill_path(path: str, world: World, ids: dict[str, str]) -> str:
    values = {
        "expert_id": world.expert_id,
        "district_id": world.district_id,
        "request_id": world.request_id,
        "booking_id": world.booking_id,
        "application_id": world.application_id,
        "service_id": world.service_id,
        "run_id": world.run_id,
        "calendar_id": world.calendar_id,
        "notification_id": world.notification_id,
        "token": world.feed_token,
        "user_id": world.user_id,
        "resource_id": world.resource_id,
        "file_id": world.resource_file_id,
        "name": world.job_name,
        "center_id": world.city_center_id,
        "time_request_id": world.time_request_id,
    }
    values |= {name: getattr(world, attr) for name, attr in ids.items()}
    return path.format(**values)


def classify(response, path: str) -> str:  # type: ignore[no-untyped-def]
    status = response.status_code
    if status >= 500:
        return "error"
    is_page = not path.startswith("/api/")
    if status == 401 or (
        is_page and status in (302, 303) and "/login" in response.headers.get("location", "")
    ):
        return LOGIN
    if status in (403, 404):
        return DENY
    return OK


def matches(expected: str, got: str) -> bool:
    if expected == ANY:
        return got != "error"
    return got == expected


def run_actor(matrix: Matrix, method: str, path: str, call: Call, actor: str):  # type: ignore[no-untyped-def]
    client, world = matrix.client, matrix.world
    url = fill_path(path, world, call.ids)
    kwargs: dict = {"headers": world.headers[actor], "follow_redirects": False}
    for name, builder in (
        ("json", call.json),
        ("data", call.form),
        ("files", call.files),
        ("params", call.params),
    ):
        if builder is not None:
            kwargs[name] = builder(world)
    with rolled_back(matrix):
        return client.request(method, url, **kwargs)


def _route_table() -> dict[tuple[str, str], list[Declaration]]:
    from tests.conftest import make_settings
    from web.app import create_app

    app = create_app(make_settings(Path(tempfile.mkdtemp()), "sqlite://"))
    return served_routes(app)


DECLARED = _route_table()
ROUTES = sorted(DECLARED)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=lambda v: v)
def test_route_admits_exactly_whom_the_policy_lets_do_its_action(matrix, method, path):
    decl = DECLARED[(method, path)][0]
    call, world = CALLS.get((method, path), NO_BODY), matrix.world
    wrong = []
    for actor in ACTORS:
        want = expected(matrix, method, path, decl, actor)
        response = run_actor(matrix, method, path, call, actor)
        got = classify(response, path)
        if not matches(want, got):
            wrong.append(
                f"{actor}: expected {want}, got {response.status_code}"
                f" {response.headers.get('location', '')} {response.text[:160]!r}"
            )
        if want != OK and not call.capability:
            leaked = world.leaks(response.text)
            if leaked:
                wrong.append(f"{actor}: response leaks {leaked}")
    assert not wrong, f"{decl.action}:\n" + "\n".join(wrong)


# --- IDOR attempts beyond the path: filters and capability URLs -----------------------------


def request_as(matrix: Matrix, actor: str, method: str, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
    with rolled_back(matrix):
        return matrix.client.request(method, url, headers=matrix.world.headers[actor], **kwargs)


@pytest.mark.parametrize(
    "url", ["/api/applications", "/api/requests", "/api/bookings", "/requests", "/applications"]
)
def test_filtering_lists_by_another_district_shows_nothing_of_it(matrix, url):
    world = matrix.world
    response = request_as(
        matrix, "district_other", "GET", url, params={"district_id": world.district_id}
    )
    assert response.status_code in (200, 403, 404)
    assert world.leaks(response.text) == []


def test_a_guessed_or_revoked_feed_token_opens_nothing(matrix):
    world = matrix.world
    guessed = world.feed_token[:-4] + ("AAAA" if not world.feed_token.endswith("AAAA") else "BBBB")
    response = request_as(matrix, "anonymous", "GET", f"/api/feeds/{guessed}.ics")
    assert response.status_code == 404 and world.leaks(response.text) == []
    with rolled_back(matrix):
        revoked = matrix.client.delete(
            f"/api/districts/{world.district_id}/feed-token", headers=world.headers["district_own"]
        )
        assert revoked.status_code == 204
        after = matrix.client.get(f"/api/feeds/{world.feed_token}.ics")
        assert after.status_code == 404 and world.leaks(after.text) == []


def test_another_district_cannot_rotate_a_districts_feed_token_and_the_owners_keeps_working(matrix):
    world = matrix.world
    response = request_as(
        matrix, "district_other", "POST", f"/api/districts/{world.district_id}/feed-token"
    )
    assert response.status_code == 403 and "token" not in response.json()
    assert matrix.client.get(f"/api/feeds/{world.feed_token}.ics").status_code == 200
