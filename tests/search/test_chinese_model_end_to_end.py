"""The default deployment path with the installed Chinese model (HEART_EMBED_MODEL=auto picks
bge-small-zh-v1.5): `heart index --rebuild` trains the need model with its dense view, search
reads needs with it, and matching reuses the saved model with the encoder attached. Slow
(encodes 600 profiles)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from marketplace.accounts.principal import system_principal
from matching.service import match_lines, relevance_factory_for
from search.encoder import CHINESE_MODEL, effective_model
from search.service import SearchRequest
from tests.search.corpus import build_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('zh-db') / 'search.db'}"
    settings, engine, service = build_corpus(
        tmp_path_factory.mktemp("zh-data"), url, embed_model="auto"
    )
    if effective_model("auto", settings.models_dir) != CHINESE_MODEL:
        pytest.fail(
            "bge-small-zh-v1.5 is not installed: run scripts/fetch-models (scripts/bootstrap does)"
        )
    yield settings, engine, service
    engine.dispose()


def test_the_rebuilt_need_model_reads_with_the_chinese_model(corpus):
    settings, _, service = corpus
    model = service.need_model
    assert model.uses_dense and model.dense_model == CHINESE_MODEL
    assert model.meta["dense_lift"] >= 0.3
    assert service.weights.dense > 0  # the profiles' vectors earned a share of the ranking
    need = "有个学生最近总说活着没意思，还偷偷上网查怎么结束生命，学校需要判断危险程度"
    result = service.search(SearchRequest(q=need, page_size=5))
    crisis = {"自杀风险评估", "心理危机干预", "心理援助热线"}
    assert result.needs[0][0] in crisis
    assert all(crisis & set(h.matched_specialties) for h in result.hits)


def test_matching_reuses_the_saved_model_with_its_encoder(corpus):
    settings, engine, _ = corpus
    line = (
        '{"id": "Z1", "text": "区里下学期要给初中生做一次心理状况普查，想请专家推荐合适的量表并培训施测", '
        '"district": {"province": "陕西省", "city": "西安市", "district": "碑林区"}, '
        '"service_type": "assessment", "format": "online", "hours": 4, "experts_needed": 2}'
    )
    with Session(engine) as session:
        outcome = match_lines(
            session=session,
            user=system_principal("test"),
            lines=[line],
            relevance_factory=relevance_factory_for(settings),
        )
    (assigned,) = outcome.result.assignments
    assert len(assigned.expert_ids) == 2
    assert all("心理测评与量表" in p.summary for p in assigned.experts)


def test_a_message_is_read_for_its_need(corpus):
    _, _, service = corpus
    message = (
        "各位老师好！我是渭南市一所初中的心理老师，学校有两千多名学生，大部分住校。"
        "最近初三有个男生在厕所用圆规划自己的手臂，被同学发现后情绪很激动。"
        "想请专家这周来学校指导一下后续怎么处置。费用按中心标准，线上线下都可以。谢谢！"
    )
    model = service.need_model
    assert model.extracts
    kept = model.need_text(message)
    assert "圆规划自己的手臂" in kept and "谢谢" not in kept and "费用" not in kept
    result = service.search(SearchRequest(q=message, page_size=5))
    assert result.needs[0][0] in {"自杀风险评估", "心理危机干预"}


def test_a_second_rebuild_encodes_nothing_it_has_encoded_before(corpus):
    _, _, service = corpus
    cached = service.embedding_cache.count()
    assert cached >= 600  # every profile (and the need model's training texts)
    service.rebuild()
    assert service.embedding_cache.count() == cached
