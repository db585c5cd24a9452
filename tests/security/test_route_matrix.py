"""Role × route matrix, generated from the app's route table.

Every (method, path) the app serves must have a declared expectation below, for each actor:
anonymous, district (own district / another district), expert (own profile / another), staff and
admin. Path parameters always name records of the *own* district and expert, so the "other"
actors are IDOR attempts: they must get 403/404 and their responses must not contain the owner's
data. Each actor's request runs in its own savepoint, so a successful change does not alter
what the next actor sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.routing import iter_route_contexts

from tests.booking.conftest import WORKDAY
from tests.conftest import TEST_PASSWORD, expert_record
from tests.security.conftest import Matrix, rolled_back
from tests.security.world import ACTORS, BUSY_ICS, World, booking_body, slot_day

# Outcomes: "ok" = allowed and found (2xx/3xx, or 409/422 for a refused state or body);
# "pass" = past the role check (404 allowed); "deny" = 403 or 404; "login" = 401 for the API,
# a redirect to /login for pages; "any" = no server error (pages handling their own CSRF).
OK, PASS, DENY, LOGIN, ANY = "ok", "pass", "deny", "login", "any"

Body = Callable[[World], object]


@dataclass(frozen=True)
class Rule:
    outcomes: tuple[str, str, str, str, str, str, str]
    json: Body | None = None
    form: Body | None = None
    files: Body | None = None
    params: Body | None = None
    ids: dict[str, str] = field(default_factory=dict)  # path parameter → World attribute
    capability: bool = False  # the path itself grants access (feed tokens): no leak check


def rule(profile: tuple[str, ...], **kwargs: object) -> Rule:
    assert len(profile) == len(ACTORS)
    return Rule(tuple(profile), **kwargs)  # type: ignore[arg-type]


#            anon   d_own d_other e_own e_other staff admin
PUBLIC = (OK, OK, OK, OK, OK, OK, OK)
ANY_USER = (LOGIN, OK, OK, OK, OK, OK, OK)
STAFF = (LOGIN, DENY, DENY, DENY, DENY, OK, OK)
STAFF_PASS = (LOGIN, DENY, DENY, DENY, DENY, PASS, PASS)
ADMIN = (LOGIN, DENY, DENY, DENY, DENY, DENY, OK)
DISTRICT_RECORD = (LOGIN, OK, DENY, DENY, DENY, OK, OK)
DISTRICTS_AND_STAFF = (LOGIN, OK, OK, DENY, DENY, OK, OK)
DISTRICT_ONLY = (LOGIN, OK, OK, DENY, DENY, DENY, DENY)
OWN_DISTRICT_ONLY = (LOGIN, OK, DENY, DENY, DENY, DENY, DENY)
EXPERT_RECORD = (LOGIN, DENY, DENY, OK, DENY, OK, OK)
EXPERT_ONLY = (LOGIN, DENY, DENY, OK, OK, DENY, DENY)
BOOKING_PARTY = (LOGIN, OK, DENY, OK, DENY, OK, OK)
PAGE_ANY = (ANY,) * 7
FEED_OWNERS = (LOGIN, OK, OK, OK, OK, DENY, DENY)
OWN_EXPERT_USER = (LOGIN, DENY, DENY, OK, DENY, DENY, DENY)
ADMIN_ONLY = (LOGIN, DENY, DENY, DENY, DENY, DENY, OK)
# /metrics answers by client network or bearer token, never by role; the test client's
# address ("testclient") is in no allowed network.
NETWORK_ONLY = (DENY,) * 7


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


ROUTES: dict[tuple[str, str], Rule] = {
    # --- API: foundation ---------------------------------------------------------------------
    ("GET", "/api/health"): rule(PUBLIC),
    ("POST", "/api/auth/token"): rule(
        PUBLIC,
        form=lambda w: {"username": w.users["district_own"].username, "password": TEST_PASSWORD},
    ),
    ("POST", "/api/auth/logout"): rule(ANY_USER),
    ("GET", "/api/me"): rule(ANY_USER),
    ("PATCH", "/api/me"): rule(ANY_USER, json=lambda w: {"phone": "029-12345678"}),
    # In-app notifications: everyone has an inbox; an entry is its recipient's alone.
    ("GET", "/api/notifications"): rule(ANY_USER),
    ("POST", "/api/notifications/read-all"): rule(ANY_USER),
    ("POST", "/api/notifications/{notification_id}/read"): rule(OWN_EXPERT_USER),
    ("GET", "/notifications"): rule(ANY_USER),
    ("POST", "/notifications/read-all"): rule(ANY_USER),
    ("POST", "/notifications/{notification_id}/open"): rule(OWN_EXPERT_USER),
    ("GET", "/account"): rule(ANY_USER),
    ("POST", "/account"): rule(ANY_USER, form=lambda w: {"phone": "029-12345678"}),
    ("GET", "/api/specialties"): rule(ANY_USER),
    ("GET", "/api/districts"): rule(ANY_USER),
    ("GET", "/api/experts"): rule(ANY_USER),
    ("GET", "/api/experts/{expert_id}"): rule(ANY_USER),
    ("POST", "/api/experts"): rule(STAFF, json=lambda w: expert_record(id="SX9")),
    ("PATCH", "/api/experts/{expert_id}"): rule(EXPERT_RECORD, json=lambda w: {"bio": "新的简介"}),
    ("POST", "/api/experts/{expert_id}/pause"): rule(STAFF),
    ("POST", "/api/experts/{expert_id}/activate"): rule(STAFF),
    ("GET", "/api/search"): rule(ANY_USER, params=lambda w: {"q": "危机干预"}),
    # --- API: booking ------------------------------------------------------------------------
    ("GET", "/api/experts/{expert_id}/availability"): rule(ANY_USER),
    ("PUT", "/api/experts/{expert_id}/availability"): rule(EXPERT_RECORD, json=lambda w: WORKDAY),
    ("GET", "/api/experts/{expert_id}/slots"): rule(ANY_USER, params=slots_query),
    ("GET", "/api/experts/{expert_id}/busy-calendars"): rule(EXPERT_RECORD),
    ("POST", "/api/experts/{expert_id}/busy-calendars/upload"): rule(
        EXPERT_RECORD, files=lambda w: {"file": ("busy.ics", BUSY_ICS, "text/calendar")}
    ),
    ("POST", "/api/experts/{expert_id}/busy-calendars"): rule(
        EXPERT_RECORD, json=lambda w: {"url": "http://127.0.0.1:9/busy.ics", "name": "外部日历"}
    ),
    ("POST", "/api/experts/{expert_id}/busy-calendars/{calendar_id}/refresh"): rule(EXPERT_RECORD),
    ("DELETE", "/api/experts/{expert_id}/busy-calendars/{calendar_id}"): rule(EXPERT_RECORD),
    ("POST", "/api/experts/{expert_id}/feed-token"): rule(EXPERT_RECORD),
    ("DELETE", "/api/experts/{expert_id}/feed-token"): rule(EXPERT_RECORD),
    ("POST", "/api/districts/{district_id}/feed-token"): rule(DISTRICT_RECORD),
    ("DELETE", "/api/districts/{district_id}/feed-token"): rule(DISTRICT_RECORD),
    # A capability URL: whoever holds the token reads that calendar (see the IDOR test below).
    ("GET", "/api/feeds/{token}.ics"): rule(PUBLIC, capability=True),
    ("POST", "/api/bookings"): rule(
        (LOGIN, OK, OK, DENY, DENY, OK, OK), json=lambda w: booking_body(w)
    ),
    ("GET", "/api/bookings"): rule(ANY_USER),
    ("GET", "/api/bookings/{booking_id}"): rule(BOOKING_PARTY),
    ("GET", "/api/bookings/{booking_id}.ics"): rule(BOOKING_PARTY),
    ("POST", "/api/bookings/{booking_id}/confirm"): rule(EXPERT_RECORD),
    ("POST", "/api/bookings/{booking_id}/decline"): rule(EXPERT_RECORD, json=reason),
    ("POST", "/api/bookings/{booking_id}/cancel"): rule(BOOKING_PARTY, json=reason),
    ("POST", "/api/bookings/{booking_id}/reschedule"): rule(BOOKING_PARTY, json=reschedule),
    # The expert's reschedule is a proposal: the booking district (or staff) answers it.
    ("POST", "/api/bookings/{booking_id}/proposal/accept"): rule(DISTRICT_RECORD),
    ("POST", "/api/bookings/{booking_id}/proposal/decline"): rule(DISTRICT_RECORD),
    # The expert side (the expert or staff) records how a session went.
    ("POST", "/api/bookings/{booking_id}/complete"): rule(EXPERT_RECORD),
    ("POST", "/api/bookings/{booking_id}/no-show"): rule(EXPERT_RECORD),
    # A training is open to every district: each registers its own schools and sees its own.
    ("POST", "/api/bookings/{booking_id}/registrations"): rule(
        DISTRICT_ONLY,
        json=lambda w: {"school": "第一中学", "participants": 3},
        ids={"booking_id": "training_id"},
    ),
    ("GET", "/api/bookings/{booking_id}/registrations"): rule(
        (LOGIN, OK, OK, OK, DENY, OK, OK), ids={"booking_id": "training_id"}
    ),
    ("POST", "/api/bookings/{booking_id}/rating"): rule(
        OWN_DISTRICT_ONLY, json=lambda w: {"score": 5, "feedback": "很好"}
    ),
    # --- API: procured services, applications, reports --------------------------------------
    ("GET", "/api/services"): rule(DISTRICTS_AND_STAFF),
    ("POST", "/api/services"): rule(
        STAFF,
        json=lambda w: __import__(
            "tests.web.allocation_support", fromlist=["service_body"]
        ).service_body(name="新服务"),
    ),
    ("GET", "/api/services/{service_id}"): rule(DISTRICTS_AND_STAFF),
    ("PATCH", "/api/services/{service_id}"): rule(STAFF, json=lambda w: {"description": "更新"}),
    ("DELETE", "/api/services/{service_id}"): rule(STAFF),
    ("POST", "/api/services/{service_id}/expire"): rule(STAFF),
    ("GET", "/api/services/{service_id}/ledger"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/api/services/{service_id}/fair-proposal"): rule(STAFF),
    ("POST", "/api/services/{service_id}/fair-proposal/confirm"): rule(
        STAFF, json=lambda w: {"fingerprint": "stale"}
    ),
    ("POST", "/api/applications"): rule(
        DISTRICT_ONLY,
        json=lambda w: {"service_id": w.service_id, "quantity": 1, "purpose": "教师培训"},
    ),
    ("GET", "/api/applications"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/api/applications/{application_id}"): rule(DISTRICT_RECORD),
    ("POST", "/api/applications/{application_id}/approve"): rule(STAFF),
    ("POST", "/api/applications/{application_id}/reject"): rule(STAFF, json=reason),
    ("POST", "/api/applications/{application_id}/withdraw"): rule(DISTRICT_RECORD),
    ("POST", "/api/applications/{application_id}/usage"): rule(
        DISTRICT_RECORD, json=lambda w: {"quantity": 1, "reference": "R-1", "note": ""}
    ),
    ("POST", "/api/applications/{application_id}/release"): rule(STAFF),
    ("POST", "/api/applications/{application_id}/close"): rule(DISTRICT_RECORD),
    ("GET", "/api/reports/allocation"): rule(STAFF),
    ("GET", "/api/reports/allocation.csv"): rule(STAFF),
    ("GET", "/api/reports/allocation.xlsx"): rule(STAFF),
    # --- API: the resource library (world.resource_id: the own expert's submission) ---------
    ("GET", "/api/resources"): rule(ANY_USER),
    ("POST", "/api/resources"): rule(
        (LOGIN, DENY, DENY, OK, OK, OK, OK),
        json=lambda w: {"kind": "course", "title": "新课纲", "body": "课程内容"},
    ),
    ("GET", "/api/resources/{resource_id}"): rule(EXPERT_RECORD),
    ("PATCH", "/api/resources/{resource_id}"): rule(
        EXPERT_RECORD, json=lambda w: {"title": "改名"}
    ),
    ("POST", "/api/resources/{resource_id}/files"): rule(
        EXPERT_RECORD, files=lambda w: {"file": ("a.png", b"\x89PNG\r\n\x1a\n1", "image/png")}
    ),
    ("GET", "/api/resources/{resource_id}/files/{file_id}"): rule(EXPERT_RECORD),
    ("POST", "/api/resources/{resource_id}/submit"): rule(EXPERT_RECORD),
    ("POST", "/api/resources/{resource_id}/publish"): rule(STAFF),
    ("POST", "/api/resources/{resource_id}/request-changes"): rule(STAFF, json=reason),
    ("POST", "/api/resources/{resource_id}/reject"): rule(STAFF, json=reason),
    ("POST", "/api/resources/{resource_id}/retire"): rule(STAFF, json=reason),
    ("GET", "/api/resources/{resource_id}/versions"): rule(EXPERT_RECORD),
    ("POST", "/api/resources/{resource_id}/versions"): rule(EXPERT_RECORD),
    # --- API: district requests and matching ---------------------------------------------------
    ("POST", "/api/requests"): rule(DISTRICTS_AND_STAFF, json=request_body),
    ("GET", "/api/requests"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/api/requests/{request_id}"): rule(DISTRICT_RECORD),
    ("PATCH", "/api/requests/{request_id}"): rule(DISTRICT_RECORD, json=lambda w: {"hours": 3}),
    ("POST", "/api/requests/{request_id}/status"): rule(
        DISTRICT_RECORD, json=lambda w: {"status": "withdrawn"}
    ),
    ("GET", "/api/requests/{request_id}/recommendations"): rule(DISTRICT_RECORD),
    ("POST", "/api/matching/runs"): rule(STAFF, json=lambda w: {"request_ids": [w.request_id]}),
    ("GET", "/api/matching/runs"): rule(STAFF),
    ("GET", "/api/matching/runs/{run_id}"): rule(STAFF),
    ("POST", "/api/matching/runs/{run_id}/adjust"): rule(
        STAFF, json=lambda w: {"add": [{"request_id": w.request_id, "expert_id": "SX2"}]}
    ),
    ("POST", "/api/matching/runs/{run_id}/confirm"): rule(STAFF),
    ("POST", "/api/matching/runs/{run_id}/discard"): rule(STAFF),
    ("GET", "/api/matching/confirmed"): rule(STAFF),
    # --- API: accounts (admins only; everyone changes their own password) ----------------------
    ("GET", "/api/users"): rule(ADMIN),
    ("POST", "/api/users"): rule(
        ADMIN,
        json=lambda w: {"username": "new-coord", "password": "Pass-2026-x", "role": "staff"},
    ),
    ("GET", "/api/users/{user_id}"): rule(ADMIN),
    ("PATCH", "/api/users/{user_id}"): rule(ADMIN, json=lambda w: {"display_name": "新名字"}),
    ("POST", "/api/users/{user_id}/deactivate"): rule(ADMIN),
    ("POST", "/api/users/{user_id}/reactivate"): rule(ADMIN),
    ("POST", "/api/users/{user_id}/reset-password"): rule(ADMIN),
    ("POST", "/api/users/{user_id}/logout"): rule(ADMIN),
    ("POST", "/api/me/password"): rule(
        ANY_USER, json=lambda w: {"old_password": "wrong-1", "new_password": "Better-2026"}
    ),
    # --- pages (bearer tokens are accepted by pages too, so no CSRF dance is needed) ---------
    ("GET", "/"): rule(ANY_USER),
    ("GET", "/login"): rule(PUBLIC),
    ("POST", "/login"): rule(PAGE_ANY, form=lambda w: {"username": "x", "password": "y"}),
    ("POST", "/logout"): rule(PAGE_ANY),
    ("GET", "/experts"): rule(ANY_USER),
    ("GET", "/experts/{expert_id}"): rule(ANY_USER),
    ("GET", "/profile"): rule(EXPERT_ONLY),
    ("POST", "/profile"): rule(EXPERT_ONLY, form=lambda w: {"bio": "新的简介"}),
    ("GET", "/audit"): rule(STAFF),
    ("GET", "/audit.csv"): rule(STAFF),
    # Account pages: admins manage accounts; everyone changes their own password.
    ("GET", "/users"): rule(ADMIN),
    ("GET", "/users/new"): rule(ADMIN),
    ("POST", "/users"): rule(
        ADMIN, form=lambda w: {"username": "page-new", "role": "staff", "display_name": "新同事"}
    ),
    ("GET", "/users/{user_id}"): rule(ADMIN),
    ("POST", "/users/{user_id}"): rule(
        ADMIN,
        form=lambda w: {"display_name": "新名字", "role": "district", "district": "西安市/碑林区"},
    ),
    ("POST", "/users/{user_id}/deactivate"): rule(ADMIN),
    ("POST", "/users/{user_id}/reactivate"): rule(ADMIN),
    ("POST", "/users/{user_id}/logout"): rule(ADMIN),
    ("POST", "/users/{user_id}/reset-password"): rule(ADMIN),
    ("GET", "/account/password"): rule(ANY_USER),
    ("POST", "/account/password"): rule(
        ANY_USER,
        form=lambda w: {
            "old_password": "wrong-1",
            "new_password": "Lantern-Quiet-4127",
            "new_password_again": "Lantern-Quiet-4127",
        },
    ),
    ("GET", "/reports"): rule(STAFF),
    ("GET", "/reports/monthly"): rule(STAFF),
    ("GET", "/services"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/services/new"): rule(STAFF),
    ("GET", "/experts/{expert_id}/status"): rule(STAFF),
    ("POST", "/experts/{expert_id}/status"): rule(
        STAFF, form=lambda w: {"status": "paused", "reason": "资质复核"}
    ),
    ("POST", "/experts/{expert_id}/verify"): rule(STAFF),
    ("GET", "/expert-pool"): rule(STAFF),
    ("GET", "/expert-pool/export.csv"): rule(STAFF),
    ("GET", "/expert-pool/export.xlsx"): rule(STAFF),
    ("GET", "/expert-pool/new"): rule(STAFF),
    ("POST", "/expert-pool/new"): rule(
        STAFF,
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
    ("GET", "/experts/{expert_id}/edit"): rule(STAFF),
    ("POST", "/experts/{expert_id}/edit"): rule(
        STAFF, form=lambda w: {"name": "改名", "domain": "psychology"}
    ),
    ("GET", "/expert-pool/import"): rule(STAFF),
    ("POST", "/expert-pool/import"): rule(
        STAFF,
        files=lambda w: {
            "file": ("e.jsonl", json.dumps(expert_record(id="MX1")).encode(), "text/plain")
        },
    ),
    ("POST", "/services"): rule(
        STAFF,
        form=lambda w: {
            "name": "页面新服务",
            "kind": "hotline",
            "unit": "次",
            "quantity": "5",
            "valid_from": "2026-01-01",
            "valid_to": "2030-01-01",
        },
    ),
    ("GET", "/services/{service_id}/edit"): rule(STAFF),
    ("POST", "/services/{service_id}"): rule(STAFF, form=lambda w: {"name": "改名"}),
    ("POST", "/services/{service_id}/retire"): rule(STAFF),
    ("POST", "/services/{service_id}/delete"): rule(STAFF),
    ("GET", "/applications"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/applications/new"): rule(
        DISTRICT_ONLY, params=lambda w: {"service_id": w.service_id}
    ),
    ("POST", "/applications"): rule(
        DISTRICT_ONLY,
        form=lambda w: {"service_id": w.service_id, "quantity": "1", "purpose": "培训"},
    ),
    ("POST", "/applications/{application_id}/approve"): rule(STAFF),
    ("POST", "/applications/{application_id}/reject"): rule(
        STAFF, form=lambda w: {"reason": "不符合"}
    ),
    ("POST", "/applications/{application_id}/withdraw"): rule(OWN_DISTRICT_ONLY),
    ("GET", "/requests"): rule(DISTRICTS_AND_STAFF),
    ("GET", "/requests/new"): rule(DISTRICT_ONLY),
    ("POST", "/requests"): rule(DISTRICT_ONLY, form=request_form),
    ("GET", "/requests/{request_id}"): rule(DISTRICT_RECORD),
    ("GET", "/requests/{request_id}/recommendations"): rule(DISTRICT_RECORD),
    ("GET", "/bookings"): rule(ANY_USER),
    ("GET", "/bookings/new"): rule(
        DISTRICT_ONLY,
        params=lambda w: {
            k: v for k, v in booking_body(w).items() if k in ("expert_id", "start", "end")
        },
    ),
    ("POST", "/bookings"): rule(
        DISTRICT_ONLY, form=lambda w: {**booking_body(w), "form_nonce": "n-2"}
    ),
    ("POST", "/bookings/{booking_id}/confirm"): rule(EXPERT_RECORD),
    ("POST", "/bookings/{booking_id}/decline"): rule(EXPERT_RECORD, form=reason),
    ("POST", "/bookings/{booking_id}/cancel"): rule(BOOKING_PARTY, form=reason),
    # Availability pages act on the signed-in expert's own calendar; staff name the expert.
    ("GET", "/availability"): rule(EXPERT_RECORD, params=own_expert),
    ("POST", "/availability"): rule(EXPERT_RECORD, form=availability_form),
    ("POST", "/availability/calendars/upload"): rule(
        EXPERT_RECORD,
        form=own_expert,
        files=lambda w: {"file": ("busy.ics", BUSY_ICS, "text/calendar")},
    ),
    ("POST", "/availability/calendars/feed"): rule(
        EXPERT_RECORD,
        form=lambda w: {**own_expert(w), "url": "http://127.0.0.1:9/busy.ics", "name": "外部"},
    ),
    ("POST", "/availability/calendars/{calendar_id}/delete"): rule(EXPERT_RECORD, form=own_expert),
    # "My calendar feed link": each expert or coordinator has their own; staff have none.
    ("POST", "/calendar-feed/rotate"): rule(FEED_OWNERS),
    ("POST", "/calendar-feed/revoke"): rule(FEED_OWNERS),
    # After booking: either party moves a session; the expert side records how it went; the
    # booking district rates it; every district registers its schools for a training.
    ("GET", "/bookings/{booking_id}/reschedule"): rule(BOOKING_PARTY),
    ("POST", "/bookings/{booking_id}/reschedule"): rule(BOOKING_PARTY, form=reschedule_form),
    ("POST", "/bookings/{booking_id}/proposal/accept"): rule(DISTRICT_RECORD),
    ("POST", "/bookings/{booking_id}/proposal/decline"): rule(DISTRICT_RECORD),
    ("POST", "/bookings/{booking_id}/complete"): rule(EXPERT_RECORD),
    ("POST", "/bookings/{booking_id}/no-show"): rule(EXPERT_RECORD),
    ("POST", "/bookings/{booking_id}/rating"): rule(
        OWN_DISTRICT_ONLY, form=lambda w: {"score": "5", "feedback": "很好", "form_nonce": "n-3"}
    ),
    ("GET", "/trainings"): rule(DISTRICTS_AND_STAFF),
    ("POST", "/trainings/{booking_id}/registrations"): rule(
        DISTRICT_ONLY,
        form=lambda w: {"school": "第一中学", "participants": "3", "form_nonce": "n-4"},
        ids={"booking_id": "training_id"},
    ),
    # The resource library: everyone reads the published library; experts and staff submit;
    # staff review; world.resource_id is the own expert's submission under review.
    ("GET", "/library"): rule(ANY_USER),
    ("GET", "/library/new"): rule((LOGIN, DENY, DENY, OK, OK, OK, OK)),
    ("POST", "/library"): rule(
        (LOGIN, DENY, DENY, OK, OK, OK, OK),
        form=lambda w: {"kind": "course", "title": "新课纲", "body": "内容", "form_nonce": "n-9"},
    ),
    ("GET", "/library/{resource_id}"): rule(EXPERT_RECORD),
    ("POST", "/library/{resource_id}/review"): rule(STAFF, form=lambda w: {"action": "publish"}),
    ("POST", "/library/{resource_id}/submit"): rule(EXPERT_RECORD),
    ("POST", "/library/{resource_id}/versions"): rule(
        EXPERT_RECORD, form=lambda w: {"change_reason": "更新了第二课时"}
    ),
    ("GET", "/library/{resource_id}/edit"): rule(EXPERT_RECORD),
    ("POST", "/library/{resource_id}/edit"): rule(
        EXPERT_RECORD, form=lambda w: {"title": "改名的课纲", "intent": "save"}
    ),
    ("POST", "/library/{resource_id}/files"): rule(
        EXPERT_RECORD, files=lambda w: {"file": ("a.png", b"\x89PNG\r\n\x1a\n1", "image/png")}
    ),
    # Batch matching pages: staff only.
    ("GET", "/matching"): rule(STAFF),
    ("POST", "/matching/runs"): rule(STAFF, form=lambda w: {"method": "greedy"}),
    ("GET", "/matching/runs/{run_id}"): rule(STAFF),
    ("GET", "/matching/runs/{run_id}/alternates"): rule(
        STAFF, params=lambda w: {"request_id": w.request_id, "name": "专家"}
    ),
    ("POST", "/matching/runs/{run_id}/adjust"): rule(
        STAFF, form=lambda w: {"action": "add", "request_id": w.request_id, "expert_id": "SX2"}
    ),
    ("POST", "/matching/runs/{run_id}/confirm"): rule(STAFF),
    ("POST", "/matching/runs/{run_id}/discard"): rule(STAFF),
    # Requests for a time (提交预约意向): districts ask, the expert side answers.
    ("POST", "/api/time-requests"): rule(
        (LOGIN, OK, OK, DENY, DENY, OK, OK), json=time_request_body
    ),
    ("GET", "/api/time-requests"): rule(ANY_USER),
    ("GET", "/api/time-requests/{time_request_id}"): rule(BOOKING_PARTY),
    ("POST", "/api/time-requests/{time_request_id}/offer"): rule(EXPERT_RECORD, json=offer_body),
    ("POST", "/api/time-requests/{time_request_id}/decline"): rule(EXPERT_RECORD, json=reason),
    ("POST", "/api/time-requests/{time_request_id}/withdraw"): rule(DISTRICT_RECORD),
    ("GET", "/time-requests"): rule(ANY_USER),
    ("GET", "/time-requests/new"): rule(DISTRICT_ONLY, params=own_expert),
    ("POST", "/time-requests"): rule(
        DISTRICT_ONLY, form=lambda w: {**time_request_body(w), "form_nonce": "n-10"}
    ),
    ("POST", "/time-requests/{time_request_id}/offer"): rule(EXPERT_RECORD, form=offer_form),
    ("POST", "/time-requests/{time_request_id}/decline"): rule(EXPERT_RECORD, form=reason),
    ("POST", "/time-requests/{time_request_id}/withdraw"): rule(DISTRICT_RECORD),
    # --- operations: metrics, scheduled jobs (issue 19) -------------------------------------
    ("GET", "/metrics"): rule(NETWORK_ONLY),
    ("GET", "/admin/jobs"): rule(ADMIN_ONLY),
    ("POST", "/admin/jobs/{name}/run"): rule(ADMIN_ONLY, ids={"name": "job_name"}),
}

# Framework routes outside the matrix: the API schema and its viewers carry no data.
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def served_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    routes = set()
    for route in iter_route_contexts(app.routes):
        if route.path in FRAMEWORK or not route.methods:
            continue
        routes |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return routes


def test_every_route_has_a_declared_expectation(app):
    served = served_routes(app)
    undeclared = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    assert not undeclared, f"routes without a declared role expectation: {undeclared}"
    assert not stale, f"declared routes the app no longer serves: {stale}"


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
        "time_request_id": world.time_request_id,
        "token": world.feed_token,
        "user_id": world.user_id,
        "resource_id": world.resource_id,
        "file_id": world.resource_file_id,
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
        return DENY if status == 403 else "missing"
    return OK


def matches(expected: str, got: str) -> bool:
    if expected == ANY:
        return got != "error"
    if expected == PASS:
        return got in (OK, "missing")
    if expected == DENY:
        return got in (DENY, "missing")
    return got == expected


def run_actor(matrix: Matrix, method: str, path: str, rule: Rule, actor: str):  # type: ignore[no-untyped-def]
    client, world = matrix.client, matrix.world
    url = fill_path(path, world, rule.ids)
    kwargs: dict = {"headers": world.headers[actor], "follow_redirects": False}
    for name, builder in (
        ("json", rule.json),
        ("data", rule.form),
        ("files", rule.files),
        ("params", rule.params),
    ):
        if builder is not None:
            kwargs[name] = builder(world)
    with rolled_back(matrix):
        return client.request(method, url, **kwargs)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES), ids=lambda v: v)
def test_route_admits_exactly_the_declared_roles(matrix, method, path):
    rule, world = ROUTES[(method, path)], matrix.world
    wrong = []
    for actor, expected in zip(ACTORS, rule.outcomes, strict=True):
        response = run_actor(matrix, method, path, rule, actor)
        got = classify(response, path)
        if not matches(expected, got):
            wrong.append(
                f"{actor}: expected {expected}, got {response.status_code}"
                f" {response.headers.get('location', '')} {response.text[:160]!r}"
            )
        if actor in ("anonymous", "district_other", "expert_other") and not rule.capability:
            leaked = world.leaks(response.text)
            if leaked:
                wrong.append(f"{actor}: response leaks {leaked}")
    assert not wrong, "\n".join(wrong)


# --- Across cities, generated from the route table and the policy ----------------------------
# The world's records belong to 碑林区 of 西安市. For the staff of another city's center (宝鸡市)
# and that city's observer, the policy's reach is 宝鸡's districts only: every route naming one
# of those records must refuse them (403/404), and no route at all may show them a secret.
# The own city's staff reach 碑林区 for reading requests and applications: those reads succeed.
RECORD_PARAMS = ("request_id", "booking_id", "application_id", "run_id", "district_id")
OTHER_CITY = ("city_other", "observer_other")
CITY_READS = {
    path
    for (method, path) in ROUTES
    if method == "GET"
    and ("{request_id}" in path or "{application_id}" in path)
    and "recommendations" not in path
}


def _names_a_record(path: str) -> bool:
    return any("{" + name + "}" in path for name in RECORD_PARAMS)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES), ids=lambda v: v)
def test_other_cities_never_reach_a_districts_records(matrix, method, path):
    rule, world = ROUTES[(method, path)], matrix.world
    if rule.capability:
        pytest.skip("a capability URL: holding the token is the permission")
    wrong = []
    for actor in OTHER_CITY:
        response = run_actor(matrix, method, path, rule, actor)
        got = classify(response, path)
        if got == "error":
            wrong.append(f"{actor}: server error {response.status_code}")
        if _names_a_record(path) and not matches(DENY, got):
            wrong.append(
                f"{actor}: expected deny, got {response.status_code} {response.text[:160]!r}"
            )
        leaked = world.leaks(response.text)
        if leaked:
            wrong.append(f"{actor}: response leaks {leaked}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", sorted(CITY_READS))
def test_the_own_citys_staff_read_their_districts_requests_and_applications(matrix, path):
    rule = ROUTES[("GET", path)]
    response = run_actor(matrix, "GET", path, rule, "city_own")
    assert classify(response, path) == OK, response.text[:300]


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
