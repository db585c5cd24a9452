"""matching uses the need model search saved (`heart index --rebuild`) and falls back cleanly."""

import os

import pytest

from matching.relevance import ExpertText
from matching.service import relevance_factory_for, saved_need_model_path
from search.needs import fit_need_model
from tests.conftest import make_settings

VOCABULARY = [
    "心理危机干预",
    "家庭教育指导",
    "学业压力与考试焦虑",
]  # ≥ 3: a 2-label fit trips search.needs (binary LR)
TEXTS = [
    ExpertText("E1", ("心理危机干预",), "心理咨询师", "长期从事学生自伤、自杀危机的现场处置。"),
    ExpertText("E2", ("家庭教育指导",), "家庭教育指导师", "指导家长改善亲子沟通。"),
]


def save_model(settings, examples):  # type: ignore[no-untyped-def]
    path = saved_need_model_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fit_need_model(examples, vocabulary=VOCABULARY, knn=False).save(path)
    return path


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, search_training_needs="none")


def test_the_saved_need_model_of_search_is_the_one_matching_uses(settings):
    # deliberately backwards, so only the saved model can produce this answer
    save_model(settings, [("读书会", ["心理危机干预"])] * 5 + [("学生自伤", ["家庭教育指导"])] * 5)
    relevance = relevance_factory_for(settings)(TEXTS, VOCABULARY, {})
    assert relevance.name == "saved-need-model+bm25"
    (need,) = relevance.needs(["读书会"])
    assert max(need, key=need.get) == "心理危机干预"


def test_without_a_saved_model_matching_fits_its_own(settings):
    relevance = relevance_factory_for(settings)(TEXTS, VOCABULARY, {})
    assert relevance.name == "need-model+bm25"
    assert relevance.scores(["学生自伤"], ["E1", "E2"]).shape == (1, 2)


def test_an_unreadable_saved_model_falls_back_without_failing(settings):
    path = saved_need_model_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a model")
    relevance = relevance_factory_for(settings)(TEXTS, VOCABULARY, {})
    assert relevance.name == "need-model+bm25"


def test_a_rebuilt_saved_model_replaces_the_cached_one(settings):
    path = save_model(settings, [("读书会", ["心理危机干预"])] * 5)
    factory = relevance_factory_for(settings)
    first = factory(TEXTS, VOCABULARY, {})
    save_model(settings, [("读书会", ["家庭教育指导"])] * 5)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = factory(TEXTS, VOCABULARY, {})
    assert second is not first
    assert max(second.needs(["读书会"])[0], key=second.needs(["读书会"])[0].get) == "家庭教育指导"
    assert factory(TEXTS, VOCABULARY, {}) is second


def test_the_fallback_learns_from_the_labelled_needs_search_learns_from(tmp_path):
    needs_file = tmp_path / "needs.jsonl"
    needs_file.write_text(
        '{"text": "读书会", "specialties": ["心理危机干预"]}\n' * 5, encoding="utf-8"
    )
    settings = make_settings(tmp_path, search_training_needs=str(needs_file))
    relevance = relevance_factory_for(settings)(TEXTS, VOCABULARY, {})
    (need,) = relevance.needs(["读书会"])
    assert max(need, key=need.get) == "心理危机干预"
