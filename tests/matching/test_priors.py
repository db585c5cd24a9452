"""The service-type prior reweights a need by what requests of that type call for."""

from __future__ import annotations

import json

import pytest

from marketplace.errors import InvalidInput
from matching.priors import BUILTIN_PRIOR, ServiceTypePrior, load_prior
from matching.relevance import Relevance


def test_a_type_seen_with_one_specialty_tips_a_close_call_towards_it():
    prior = ServiceTypePrior.from_labels([("assessment", "心理测评与量表")] * 8, vocabulary_size=28)
    need = {"特殊教育与融合教育": 0.16, "心理测评与量表": 0.14, "注意缺陷多动障碍": 0.13}
    out = prior.apply(need, "assessment")
    assert next(iter(out)) == "心理测评与量表"
    assert sum(out.values()) == pytest.approx(1.0)
    # a clear need is not overruled: smoothing keeps every specialty in play
    assert (
        next(iter(prior.apply({"特殊教育与融合教育": 0.9, "心理测评与量表": 0.05}, "assessment")))
        == "特殊教育与融合教育"
    )


def test_a_type_without_labelled_requests_or_an_empty_need_is_left_alone():
    prior = ServiceTypePrior.from_labels([("assessment", "心理测评与量表")], vocabulary_size=28)
    need = {"生涯规划指导": 0.6, "学业压力与考试焦虑": 0.4}
    assert prior.apply(need, "training") == need
    assert prior.apply({}, "assessment") == {}


def test_the_builtin_prior_loads_and_none_switches_it_off(tmp_path):
    prior = load_prior("builtin", 28)
    assert "心理测评与量表" in prior.counts["assessment"]
    assert load_prior("none", 28) is None and load_prior("", 28) is None
    own = tmp_path / "prior.json"
    own.write_text(json.dumps({"counts": {"training": {"生涯规划指导": 3}}}), encoding="utf-8")
    assert load_prior(str(own), 28).counts == {"training": {"生涯规划指导": 3.0}}
    assert BUILTIN_PRIOR.is_file()


@pytest.mark.parametrize(
    "content", ["not json", json.dumps({"rows": []}), json.dumps({"counts": {"a": [1]}})]
)
def test_a_malformed_prior_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match="服务类型先验文件格式不对"):
        load_prior(str(bad), 28)
    with pytest.raises(InvalidInput, match="找不到服务类型先验文件"):
        load_prior(str(tmp_path / "missing.json"), 28)


def test_relevance_applies_the_prior_per_request():
    needs = lambda texts: [{"特殊教育与融合教育": 0.5, "心理测评与量表": 0.5} for _ in texts]  # noqa: E731
    prior = ServiceTypePrior.from_labels([("assessment", "心理测评与量表")] * 4, vocabulary_size=28)
    relevance = Relevance(scores=lambda t, e: None, needs=needs, prior=prior)
    assessed, trained = relevance.need_weights(["a", "b"], ["assessment", "training"])
    assert next(iter(assessed)) == "心理测评与量表"
    assert trained == {"特殊教育与融合教育": 0.5, "心理测评与量表": 0.5}
    assert Relevance(scores=lambda t, e: None).need_weights(["a"], ["training"]) == [{}]
