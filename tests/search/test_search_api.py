"""GET /api/search over the dev pool: hits with reasons and facets, roles, bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.vocabulary import Role
from tests.conftest import auth_headers, make_user
from tests.search.corpus import build_corpus
from web.app import create_app


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings, engine, service = build_corpus(
        tmp_path_factory.mktemp("api-data"),
        f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'a.db'}",
    )
    app = create_app(settings)
    app.state.engine = engine
    app.state.search = service
    with Session(engine) as session:
        headers = {
            role: auth_headers(
                make_user(session, role, expert_id="D00001" if role == Role.expert else None),
                settings,
            )
            for role in (Role.district, Role.staff, Role.expert)
        }
        session.commit()
    with TestClient(app) as client:
        yield client, headers
    engine.dispose()


def test_search_needs_a_login(api):
    client, _ = api
    assert client.get("/api/search", params={"q": "考试焦虑"}).status_code == 401


def test_a_need_in_chinese_returns_explained_hits_and_facets(api):
    client, headers = api
    response = client.get(
        "/api/search",
        params={"q": "初三学生考试前失眠心慌，成绩下滑", "page_size": 5},
        headers=headers[Role.district],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total"] > 0 and len(body["hits"]) == 5
    assert body["hits"][0]["reasons"] and body["hits"][0]["matched_specialties"]
    assert body["needs"][0]["probability"] > 0
    assert sum(body["facets"]["domain"].values()) == body["total"]
    assert body["backend"] == "embedded" and body["degraded"] is False


def test_filters_and_an_empty_query_browse(api):
    client, headers = api
    body = client.get(
        "/api/search", params={"city": "延安市", "page_size": 3}, headers=headers[Role.expert]
    ).json()
    assert body["total"] == body["facets"]["city"]["延安市"]
    assert len(body["hits"]) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 1001},
        {"page": 0},
        {"page_size": 101},
        {"domain": "astrology"},
        {"kind": "people"},
    ],
)
def test_bad_parameters_are_422_in_chinese(api, params):
    client, headers = api
    response = client.get("/api/search", params=params, headers=headers[Role.staff])
    assert response.status_code == 422
    assert "提交的数据不符合要求" in response.json()["detail"]


def test_procured_services_are_searchable_too(api):
    client, headers = api
    response = client.get(
        "/api/search", params={"q": "督导小时", "kind": "service"}, headers=headers[Role.staff]
    )
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert hits and all(hit["kind"] == "service" for hit in hits)
    assert "督导" in hits[0]["title"]


def test_a_hit_whose_expert_has_free_hours_this_week_says_so(api, monkeypatch):
    from datetime import datetime, timedelta

    from booking.schedule import week
    from marketplace.clock import LOCAL_TZ

    client, headers = api
    need = {"q": "初三学生考试前失眠心慌，成绩下滑", "page_size": 2}
    first, second = client.get("/api/search", params=need, headers=headers[Role.district]).json()[
        "hits"
    ]
    # A Tuesday 08:00 of next week: the first expert works Tuesday to Friday afternoons.
    today = datetime.now(LOCAL_TZ).date()
    tuesday = week.monday_of(today) + timedelta(days=8)
    monkeypatch.setattr(
        week,
        "utcnow",
        lambda: datetime.combine(tuesday, datetime.min.time(), LOCAL_TZ) + timedelta(hours=8),
    )
    hours = {
        "weekly": [{"weekday": d, "start": "14:00", "end": "17:00"} for d in range(7)],
        "min_notice_minutes": 60,
    }
    url = f"/api/experts/{first['id']}/availability"
    assert client.put(url, json=hours, headers=headers[Role.staff]).status_code == 200
    try:
        hits = client.get("/api/search", params=need, headers=headers[Role.district]).json()["hits"]
    finally:
        client.put(url, json={"weekly": []}, headers=headers[Role.staff])
    reasons = {hit["id"]: hit["reasons"] for hit in hits}
    assert "本周有空：18 个时段，最早 周二 14:00" in reasons[first["id"]]
    assert not any(r.startswith("本周有空") for r in reasons[second["id"]])
