"""One contract, two backends: the embedded index and Elasticsearch rank alike on the same data.

The corpus is built once with HEART_SEARCH_BACKEND=elasticsearch and the embedded fallback on,
so a rebuild fills both from the same database and every query can be asked of each.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import Session

from marketplace.accounts.principal import system_principal
from marketplace.errors import Unavailable
from marketplace.experts.models import ExpertAdminUpdate, ExpertUpdate
from marketplace.experts.service import update_expert
from search.elastic import ElasticIndex
from search.service import SearchRequest, SearchService
from tests.search.corpus import build_corpus

pytestmark = pytest.mark.es

QUERIES = [
    "学校刚发生学生坠楼事件，全校师生情绪波动很大，急需专家团队进校开展心理疏导",
    "有学生在班级群里说活着没意思，班主任不知道第一步该做什么",
    "初三学生考试前失眠、心慌，成绩下滑明显",
    "想请专家给班主任做一次家校沟通的培训",
    "孩子沉迷手机游戏，和家长冲突不断",
    "随班就读的孤独症学生需要个别化支持方案",
    # messages: the lexical stage of both reads the need the model extracts (search.service)
    "各位老师好，我是城关小学的德育主任。班上有个孩子总说活着没意思，下周二下午都行，谢谢！",
    "老师好～打扰一下，想请黎洋馥老师来指导随班就读的孩子，线上就可以，谢谢",
]


@pytest.fixture(scope="module")
def both(es_url, tmp_path_factory):
    alias = f"contract_{uuid.uuid4().hex[:10]}"
    settings, engine, service = build_corpus(
        tmp_path_factory.mktemp("contract"),
        f"sqlite:///{tmp_path_factory.mktemp('contract-db') / 'c.db'}",
        search_backend="elasticsearch",
        elasticsearch_url=es_url,
        elasticsearch_index=alias,
        search_fallback_embedded=True,
        with_resources=True,
    )
    assert service.backend.name == "elasticsearch" and service.fallback is not None
    yield settings, engine, service
    engine.dispose()
    ElasticIndex(es_url, alias).drop()


def ask(service: SearchService, backend, request: SearchRequest):
    return service._search(request, backend, degraded=False)


def overlap(a, b) -> float:
    return len({h.id for h in a.hits} & {h.id for h in b.hits}) / max(len(a.hits), 1)


def test_both_backends_hold_the_same_documents(both):
    _, _, service = both
    # experts, services and the demo library
    assert service.backend.count() == service.fallback.count() > 600
    for backend in (service.backend, service.fallback):
        browse = ask(service, backend, SearchRequest(q="", kind="resource", page_size=50))
        assert browse.total == 12


RESOURCE_NEEDS = [
    "初三学生考试前失眠、心慌，成绩下滑明显",
    "班主任怎样识别学生的自杀风险",
    "学生抑郁筛查用什么量表",
    "孩子沉迷手机，和家长冲突不断",
]


@pytest.mark.parametrize("q", RESOURCE_NEEDS)
def test_both_backends_rank_library_resources_for_a_need_alike(both, q):
    _, _, service = both
    request = SearchRequest(q=q, kind="resource", access=("all",), page_size=5)
    es, embedded = ask(service, service.backend, request), ask(service, service.fallback, request)
    assert es.total == embedded.total > 0
    assert es.hits[0].id == embedded.hits[0].id and es.hits[0].kind == "resource"
    assert es.hits[0].reasons == embedded.hits[0].reasons
    assert overlap(es, embedded) >= 0.8


def test_both_backends_filter_resources_by_kind_audience_and_access(both):
    _, _, service = both
    for params in (
        {"resource_kind": "scale"},
        {"audience": "parents"},
        {"access": ("staff",)},
        {"access": ("all",), "resource_kind": "case"},
    ):
        request = SearchRequest(q="", kind="resource", page_size=50, **params)
        es, embedded = (
            ask(service, service.backend, request),
            ask(service, service.fallback, request),
        )
        assert [h.id for h in es.hits] == [h.id for h in embedded.hits], params
    scales = ask(
        service, service.backend, SearchRequest(q="", kind="resource", resource_kind="scale")
    )
    assert scales.total == 4
    staff_only = ask(
        service, service.backend, SearchRequest(q="", kind="resource", access=("staff",))
    )
    assert staff_only.total == 0  # the demo library is open to every district


@pytest.mark.parametrize("q", QUERIES)
def test_both_backends_rank_a_need_alike(both, q):
    _, _, service = both
    request = SearchRequest(q=q, page_size=10)
    es, embedded = ask(service, service.backend, request), ask(service, service.fallback, request)
    assert es.total == embedded.total
    assert overlap(es, embedded) >= 0.9
    assert es.hits[0].id == embedded.hits[0].id


def test_browse_order_totals_and_facets_agree(both):
    _, _, service = both
    request = SearchRequest(q="", city="西安市", page=2, page_size=7)
    es, embedded = ask(service, service.backend, request), ask(service, service.fallback, request)
    assert [h.id for h in es.hits] == [h.id for h in embedded.hits]
    assert es.total == embedded.total
    assert es.facets == embedded.facets


def test_filters_agree(both):
    _, _, service = both
    request = SearchRequest(
        q="家庭教育 亲子沟通", domain="education", format="online", page_size=50
    )
    es, embedded = ask(service, service.backend, request), ask(service, service.fallback, request)
    # Lucene stores document lengths lossily, so the last places of a long list may differ.
    assert es.total == embedded.total
    assert overlap(es, embedded) >= 0.95
    for result in (es, embedded):
        assert set(result.facets["domain"]) == {"education"}
        assert result.facets["formats"]["online"] == result.total


def test_updates_and_status_changes_reach_both_after_a_drain(both):
    _, engine, service = both
    with Session(engine) as session:
        update_expert(
            session=session,
            expert_id="D00010",
            data=ExpertUpdate(bio="擅长音乐治疗与表达性艺术干预。"),
            user=system_principal("t"),
        )
        update_expert(
            session=session,
            expert_id="D00011",
            data=ExpertAdminUpdate(status="retired"),
            user=system_principal("t"),
        )
        session.commit()
    service.drain()
    for backend in (service.backend, service.fallback):
        hits = ask(service, backend, SearchRequest(q="音乐治疗", page_size=20)).hits
        assert "D00010" in {h.id for h in hits}
        assert ask(service, backend, SearchRequest(q="", page_size=1)).total == 599


def test_an_engine_that_is_down_answers_from_the_embedded_fallback(both):
    settings, engine, _ = both
    down = SearchService(
        settings=settings.model_copy(update={"elasticsearch_url": "http://127.0.0.1:9"}),
        engine=engine,
    )
    result = down.search(SearchRequest(q="考试焦虑", page_size=5))
    assert result.degraded and result.backend == "embedded" and result.hits


def test_without_a_fallback_an_engine_that_is_down_is_unavailable(both):
    settings, engine, _ = both
    down = SearchService(
        settings=settings.model_copy(
            update={"elasticsearch_url": "http://127.0.0.1:9", "search_fallback_embedded": False}
        ),
        engine=engine,
    )
    with pytest.raises(Unavailable):
        down.search(SearchRequest(q="考试焦虑"))


def test_writes_made_while_the_engine_is_down_stay_queued_and_arrive_later(both, es_url):
    settings, engine, service = both
    down = SearchService(
        settings=settings.model_copy(
            update={"elasticsearch_url": "http://127.0.0.1:9", "search_fallback_embedded": False}
        ),
        engine=engine,
    )
    with Session(engine) as session:
        update_expert(
            session=session,
            expert_id="D00020",
            data=ExpertUpdate(bio="长期研究园艺疗法在校园的应用。"),
            user=system_principal("t"),
        )
        session.commit()
    with pytest.raises(Unavailable):
        down.drain()
    service.drain()
    hits = ask(service, service.backend, SearchRequest(q="园艺疗法", page_size=10)).hits
    assert "D00020" in {h.id for h in hits}


def test_a_rebuild_swaps_to_a_new_version_and_keeps_every_document(both):
    _, _, service = both
    before = service.backend.current_index()
    result = service.rebuild()
    assert service.backend.current_index() != before
    assert result["versions"]["elasticsearch"] == service.backend.current_index()
    assert service.backend.count() == service.fallback.count()
    assert json.dumps(result["weights"])
