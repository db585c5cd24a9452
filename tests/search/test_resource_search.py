"""Library resources as a third kind in search (embedded index): found by a need with reasons,
only by those allowed to read them, gone when retired, and the expert ranking unchanged."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.districts.models import City
from marketplace.resources.demo import seed_demo_resources
from marketplace.resources.files import store_for
from marketplace.resources.importing import import_line
from marketplace.resources.service import decide_resource
from marketplace.vocabulary import Role
from search.service import SearchRequest
from tests.conftest import auth_headers, make_user
from tests.search.corpus import DEMO_RESOURCES, build_corpus
from web.app import create_app

NEEDS = [
    "初三学生考试前失眠、心慌，成绩下滑明显",
    "有学生在班级群里说活着没意思，班主任不知道第一步该做什么",
    "孩子沉迷手机游戏，和家长冲突不断",
    "想了解学生抑郁筛查用什么量表",
    "学校刚发生意外事件，全校师生情绪波动很大",
    "留守儿童在班里不和同学交往",
]


def expert_top(service, q: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.id for h in service.search(SearchRequest(q=q, page_size=10)).hits]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    settings, engine, service = build_corpus(
        tmp_path_factory.mktemp("library-data"),
        f"sqlite:///{tmp_path_factory.mktemp('library-db') / 'l.db'}",
    )
    before = {q: expert_top(service, q) for q in NEEDS}
    store = store_for(settings.data_dir)
    with Session(engine) as session:
        seed_demo_resources(session=session, source=DEMO_RESOURCES, store=store)
        yanan = session.exec(select(City).where(City.name == "延安市")).one()
        for extra in (
            {
                "kind": "policy",
                "title": "延安市区县心理普查工作安排",
                "access": "region",
                "region_city_id": yanan.id,  # a line exported before access followed the center
                "specialties": ["心理测评与量表"],
                "summary": "延安市各区县学生心理普查的量表选择与时间安排",
                "publish": True,
            },
            {
                "kind": "policy",
                "title": "资源中心内部量表采购说明",
                "access": "staff",
                "specialties": ["心理测评与量表"],
                "summary": "量表授权采购的内部说明",
                "publish": True,
            },
        ):
            import_line(
                session=session,
                raw=json.dumps(extra, ensure_ascii=False),
                base=DEMO_RESOURCES.parent,
                store=store,
                user=system_principal("test"),
            )
        users = {
            "beilin": make_user(session, Role.district, district="西安市/碑林区"),
            "baota": make_user(session, Role.district, district="延安市/宝塔区"),
            "staff": make_user(session, Role.staff),
        }
        headers = {name: auth_headers(user, settings) for name, user in users.items()}
        session.commit()
    service.rebuild()
    app = create_app(settings)
    app.state.engine = engine
    app.state.search = service
    with TestClient(app) as client:
        yield client, headers, service, engine, before
    engine.dispose()


def ask(client, headers, q: str, **params):  # type: ignore[no-untyped-def]
    response = client.get(
        "/api/search", params={"q": q, "kind": "resource", **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_need_finds_the_matching_material_with_a_reason(library):
    client, headers, *_ = library
    body = ask(client, headers["beilin"], NEEDS[0])
    top = body["hits"][0]
    assert top["kind"] == "resource" and top["reasons"]
    assert "学业压力与考试焦虑" in top["matched_specialties"]
    assert any(h["title"].startswith("考前减压") for h in body["hits"][:3])
    scale = ask(client, headers["beilin"], NEEDS[3])["hits"][0]
    assert "PHQ-9" in scale["title"] or "SCL-90" in scale["title"]


def test_resources_are_filtered_by_kind_and_audience(library):
    client, headers, *_ = library
    scales = ask(client, headers["beilin"], "学生心理筛查", resource_kind="scale")
    assert scales["hits"] and all("使用卡" in h["title"] for h in scales["hits"])
    parents = ask(client, headers["beilin"], "手机", audience="parents")
    assert [h["title"] for h in parents["hits"]] == [
        "亲子沟通家长课：放下手机，聊聊今天 · 课程/课件"
    ]


def test_only_readers_allowed_by_access_find_a_resource(library):
    client, headers, *_ = library

    def titles(who: str) -> set[str]:
        return {
            h["title"].split(" · ")[0]
            for h in ask(client, headers[who], "心理普查 量表 采购")["hits"]
        }

    assert "延安市区县心理普查工作安排" in titles("baota")
    assert "延安市区县心理普查工作安排" not in titles("beilin")
    assert "资源中心内部量表采购说明" not in titles("beilin") | titles("baota")
    assert {"延安市区县心理普查工作安排", "资源中心内部量表采购说明"} <= titles("staff")


def test_expert_search_returns_only_experts_and_ranks_them_as_before(library):
    _, _, service, _, before = library
    for q in NEEDS:
        hits = service.search(SearchRequest(q=q, page_size=10)).hits
        assert all(h.kind == "expert" for h in hits)
        assert [h.id for h in hits] == before[q], q


def test_a_retired_resource_leaves_the_index_after_a_drain(library):
    client, headers, service, engine, _ = library
    hit = ask(client, headers["beilin"], "留守儿童 同伴关系")["hits"][0]
    assert "留守儿童" in hit["title"]
    with Session(engine) as session:
        staff = make_user(session, Role.staff)
        decide_resource(
            session=session,
            resource_id=int(hit["id"]),
            user=staff,
            decision="retire",
            reason="更新中",
        )
        session.commit()
    service.drain()
    after = ask(client, headers["beilin"], "留守儿童 同伴关系")["hits"]
    assert hit["id"] not in {h["id"] for h in after}


def test_the_directory_answers_a_need_with_experts_services_and_material(library):
    client, headers, *_ = library
    page = client.get("/experts", params={"q": NEEDS[0]}, headers=headers["beilin"])
    assert page.status_code == 200
    html = page.text
    assert (
        "专家 " in html and 'href="#found-services"' in html and 'href="#found-resources"' in html
    )
    material = html.split('id="found-resources"')[1]
    assert "考前减压" in material and 'class="reasons"' in material
    assert "学业压力与考试焦虑" in material
    library_page = client.get("/library", params={"q": NEEDS[0]}, headers=headers["beilin"]).text
    assert "考前减压" in library_page and 'class="reasons"' in library_page


def test_a_resource_page_shows_related_experts_and_services(library):
    client, headers, *_ = library
    hit = ask(client, headers["beilin"], NEEDS[0])["hits"][0]
    html = client.get(f"/library/{hit['id']}", headers=headers["beilin"]).text
    related = html.split('id="related-title"')[1]
    assert related.count('href="/experts/') >= 3 and 'href="/services"' in related


def _facet_links(html: str) -> list[tuple[str, int]]:
    """(href, count) of each facet link of the page's resource facets."""
    block = re.split(r'class="facets resource-facets[^"]*"', html)[1].split("</div>")[0]
    return [
        (unescape(href), int(count))
        for href, count in re.findall(r'href="([^"]+)">[^<]*? (\d+)</a>', block)
    ]


def test_the_directory_counts_material_by_kind_and_audience_and_the_counts_hold(library):
    client, headers, *_ = library
    q = "学生心理筛查 量表"
    page = client.get("/experts", params={"q": q}, headers=headers["beilin"]).text
    total = ask(client, headers["beilin"], q)["total"]
    assert f'href="#found-resources">资料 {total}</a>' in page and f"资料（{total}）" in page
    links = _facet_links(page.split('id="found-resources"')[1])
    kinds = [(h, c) for h, c in links if "rkind=" in h]
    audiences = [(h, c) for h, c in links if "raudience=" in h]
    assert kinds and audiences and sum(c for _, c in kinds) == total
    for href, count in links:
        clicked = client.get(href.split("#")[0], headers=headers["beilin"]).text
        # The chosen facet narrows the 资料 section to exactly the count it showed.
        assert f"资料（{count}）" in clicked, href
        assert 'aria-current="true"' in clicked.split('id="found-resources"')[1]
    scale_href = next(h for h, _ in kinds if "rkind=scale" in h)
    scales = client.get(scale_href.split("#")[0], headers=headers["beilin"]).text
    material = scales.split('id="found-resources"')[1]
    assert "使用卡" in material and "不限类型" in material


def test_the_library_page_facets_are_clickable_with_true_counts(library):
    client, headers, *_ = library
    page = client.get("/library", headers=headers["beilin"]).text
    links = _facet_links(page)
    assert any("kind=scale" in h for h, _ in links) and any("audience=" in h for h, _ in links)
    for href, count in links:
        listed = client.get(href, headers=headers["beilin"]).text
        assert f"已发布的资料（{count}）" in listed, href
