"""Need extraction: the need model reads coordinators' messages, not only bare needs.

The dev-set guard trains the lexical need model (no encoder: fast and deterministic) on the
directory plus half of the labelled dev needs, and ranks the other half's experts, bare and
wrapped by the evaluation generator (benchmarks/wrapped_needs.py, whose context sentences the
product never trains on). Figures with the Chinese encoder and cross-validation:
benchmarks/search_quality.py.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from benchmarks.wrapped_needs import wrap_one, wrap_queries
from search.metrics import mean, ndcg_at_k
from search.needs import (
    NeedModel,
    asks_for_visit,
    context_sentences,
    examples_from_experts,
    examples_from_qrels,
    fit_need_model,
    normalise_message,
    split_clauses,
)
from search.ranking import FusionWeights, expected_gain, fuse_scores, rank
from search.tuning import BUILTIN_NEEDS
from tests.search.test_ranking_quality import DEV, REPO

SPECIALTIES = REPO / "marketplace" / "data" / "specialties.json"

NEED_ONLY = FusionWeights(lexical=0.0, dense=0.0)


@pytest.fixture(scope="module")
def dev_models():
    if not (DEV / "experts.jsonl").exists():
        pytest.skip("shared dev set not available")
    experts = [json.loads(x) for x in (DEV / "experts.jsonl").read_text("utf-8").splitlines()]
    queries = {
        q["id"]: q["text"]
        for q in map(json.loads, (DEV / "queries.jsonl").read_text("utf-8").splitlines())
    }
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(DEV / "qrels.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query_id"]][row["expert_id"]] = int(row["grade"])
    vocab = sorted({s for e in experts for s in e["specialties"]})
    spec_of = {e["id"]: e["specialties"] for e in experts}
    order = sorted(queries)
    np.random.default_rng(7).shuffle(order)
    train, test = set(order[::2]), set(order[1::2])
    examples = examples_from_experts(experts, vocabulary=vocab) + examples_from_qrels(
        {q: queries[q] for q in train}, {q: qrels[q] for q in train}, spec_of
    )
    synonyms = {
        d["name"]: list(d.get("synonyms") or ())
        for d in json.loads(SPECIALTIES.read_text(encoding="utf-8"))
    }
    # what the product trains (search.service): the directory, every builtin labelled need,
    # the specialty synonyms as analyzer words
    product = examples_from_experts(experts, vocabulary=vocab) + examples_from_qrels(
        queries, qrels, spec_of
    )
    models = {
        "extract": fit_need_model(examples, vocabulary=vocab, synonyms=synonyms),
        "whole": fit_need_model(examples, vocabulary=vocab, synonyms=synonyms, extract=False),
        "product": fit_need_model(product, vocabulary=vocab, synonyms=synonyms),
    }
    bare = {q: queries[q] for q in test}
    wrapped, wrapped_qrels, _, _ = wrap_queries(bare, qrels, seed=3)
    return experts, models, bare, wrapped, {**qrels, **wrapped_qrels}


def _ndcg(model: NeedModel, experts, texts: dict[str, str], qrels) -> float:
    ids = [e["id"] for e in experts]
    specs = [e["specialties"] for e in experts]
    dists = model.predict_many(list(texts.values()), top=len(model.labels))
    return mean(
        [
            ndcg_at_k(rank(ids, fuse_scores(specs, d, weights=NEED_ONLY)), qrels[q], 10)
            for q, d in zip(texts, dists, strict=True)
        ]
    )


def test_wrapped_needs_rank_far_better_with_extraction_and_bare_needs_stay(dev_models):
    experts, models, bare, wrapped, qrels = dev_models
    wrapped_with = _ndcg(models["extract"], experts, wrapped, qrels)
    wrapped_without = _ndcg(models["whole"], experts, wrapped, qrels)
    bare_with = _ndcg(models["extract"], experts, bare, qrels)
    bare_without = _ndcg(models["whole"], experts, bare, qrels)
    print(
        f"wrapped {wrapped_without:.3f} -> {wrapped_with:.3f}; bare {bare_without:.3f} -> {bare_with:.3f}"
    )
    # lexical view only (measured: wrapped 0.660 -> 0.687, bare 0.720 -> 0.701); with the
    # Chinese encoder the detector reads far better (test below, benchmarks)
    assert wrapped_with >= wrapped_without + 0.015
    assert bare_with >= bare_without - 0.03


def test_greetings_logistics_and_thanks_are_stripped_from_a_message(dev_models):
    _, models, _, _, _ = dev_models
    model = models["product"]
    need = "初二有个男生连续两周不肯来上学，一提上学就说肚子疼"
    message = wrap_one(need, style="letter", seed=11)
    kept = model.need_text(message)
    assert "不肯来上学" in kept and len(kept) < 0.75 * len(message)
    assert next(iter(model.predict(need))) in list(model.predict(message, top=2))
    # a bare need has nothing to strip: it is read whole, exactly as before
    assert model.need_text(need) == need


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("厌学", {"学业压力与考试焦虑"}),
        ("自伤", {"心理危机干预", "自杀风险评估"}),
        ("家校沟通", {"家校社协同", "家庭教育指导"}),
        ("沙盘", {"个体心理咨询", "团体心理辅导", "学前儿童心理发展"}),
    ],
)
def test_short_keyword_queries_still_go_to_the_right_specialty(dev_models, query, expected):
    model = dev_models[1]["product"]
    assert list(model.predict(query, top=2))[0] in expected


def test_a_message_naming_two_problems_ranks_holders_of_both_first(dev_models):
    _, models, _, _, _ = dev_models
    model = models["product"]
    message = wrap_one(
        "班里几个学生每天玩手机到半夜，上课睡觉",
        style="narrative",
        seed=5,
        second="有个女生被同学拍了丑照在群里传，天天被嘲笑",
    )
    need = model.predict(message, top=len(model.labels))
    both = ["网络与手机成瘾", "校园欺凌预防与处置"]
    # top 5 of 28 on this lexical-only model (the narrative's opening "老师们工作热情很高" still
    # reads as need to it); with the Chinese encoder both lead: benchmarks/search_quality.py's
    # two-need line (holders of both before holders of one in 33 of 40 narratives)
    assert set(both) <= set(list(need)[:5])
    gains = {
        "both": expected_gain(need, both),
        "phone": expected_gain(need, both[:1]),
        "bullying": expected_gain(need, both[1:]),
        "neither": expected_gain(need, ["生涯规划指导"]),
    }
    assert gains["both"] > max(gains["phone"], gains["bullying"]) > gains["neither"]


def test_the_detector_is_saved_with_the_model(dev_models, tmp_path):
    _, models, _, wrapped, _ = dev_models
    model = models["extract"]
    model.save(tmp_path / "m.npz")
    loaded = NeedModel.load(tmp_path / "m.npz")
    assert loaded.extracts
    message = next(iter(wrapped.values()))
    np.testing.assert_allclose(
        loaded.predict_proba(message), model.predict_proba(message), atol=2e-3
    )


def test_context_sentences_and_clauses():
    sentences = context_sentences()
    assert len(sentences) >= 100 and not any(s.startswith(("#", "[")) for s in sentences)
    assert split_clauses("老师您好！我校有学生厌学，想请专家指导。谢谢～") == [
        "老师您好",
        "我校有学生厌学",
        "想请专家指导",
        "谢谢",
    ]


def _evaluation_clauses() -> set[str]:
    """Every clause of the evaluation generator's own sentences (benchmarks/wrapped_needs.py)."""
    import benchmarks.wrapped_needs as generator  # noqa: PLC0415

    out: set[str] = set()
    for name, value in vars(generator).items():
        if name.startswith("_") and isinstance(value, list):
            for item in value:
                for text in item if isinstance(item, tuple) else (item,):
                    if isinstance(text, str):
                        out.update(split_clauses(text))
    return out


def test_the_product_never_trains_on_the_evaluation_generators_sentences():
    # the wrapped figures are honest only while the evaluation wraps stay unseen: the training
    # context may share nothing with them beyond these stock formulas of any Chinese message
    stock = {"您好", "谢谢", "非常感谢", "期待您的回复", "此致敬礼"}
    training = {c for s in context_sentences() for c in (s, *split_clauses(s))}
    needs = [json.loads(x)["text"] for x in BUILTIN_NEEDS.read_text("utf-8").splitlines() if x]
    training |= {c for s in needs for c in (s, *split_clauses(s))}
    evaluation = _evaluation_clauses()
    assert len(evaluation) > 100
    # the ways people type (ROUGH_STYLES: phone, voice, lists ...) are compared too, and the
    # keyword needs (session 8), which the product's labelled needs must not contain either
    assert {"老师在不在", "急急急", "以上两项", "我语音转文字的哈"} <= evaluation
    assert {"初二学生厌学", "班主任减压", "沙盘"} <= evaluation
    assert training & evaluation <= stock


def test_a_clock_time_is_not_cut_into_clauses():
    assert split_clauses("下午4:05 王老师：孩子这周没来上学\n[语音]") == [
        "下午4:05 王老师",
        "孩子这周没来上学",
        "[语音]",
    ]
    assert split_clauses("原话如下:孩子不肯上学") == ["原话如下", "孩子不肯上学"]


def test_a_formal_letter_is_read_for_its_need(dev_models):
    # a 公函 written for this test (neither the training context nor the evaluation wraps):
    # title, addressee, the school in figures, arrangements and a formal close around the need
    _, models, _, _, _ = dev_models
    model = models["product"]
    need = "初三有个女生在作业本上写了告别的话，最近总说活着没意思"
    letter = (
        "关于请求派专家来校指导的函。县学生心理健康指导中心：我校地处山区，是一所乡镇寄宿制"
        f"初中，现有在校生九百余人。{need}。拟请专家于下周来校，所需经费由学校承担。"
        "专此函达，敬请支持。"
    )
    kept = model.need_text(letter)
    assert "告别的话" in kept and "活着没意思" in kept
    assert "在校生" not in kept and "地处山区" not in kept and "函达" not in kept


def test_a_self_introduction_in_a_bios_words_is_not_read_as_need(dev_models):
    # the detector's need side holds needs, not bio sentences: "我是…教师，从事…工作八年" says
    # who writes, as a bio does, and is stripped like any other context (DETECTOR_BIOS)
    _, models, _, _, _ = dev_models
    message = (
        "您好，我是县实验中学的专职心理教师，从事学校心理健康教育工作八年。"
        "班上有个男生这两周总是逃课去网吧，家长也管不住。想请专家来学校给点建议，谢谢！"
    )
    kept = models["product"].need_text(message)
    assert "逃课去网吧" in kept and "家长也管不住" in kept
    assert "实验中学" not in kept and "工作八年" not in kept


def test_spaces_emoji_and_spoken_fillers_break_clauses_like_punctuation():
    # phone typing and voice-to-text: a space between Chinese characters or an emoji ends a
    # clause, a clause of fillers alone says nothing; a space after a clock time does not cut
    assert split_clauses("嗯 那个 就是 孩子最近不肯上学 然后 家长也管不住😭谢谢") == [
        "孩子最近不肯上学",
        "家长也管不住",
        "谢谢",
    ]
    assert split_clauses("下午4:05 王老师") == ["下午4:05 王老师"]


def test_traditional_full_width_and_abbreviations_are_read_as_the_directory_writes():
    assert normalise_message("學生焦慮，想請專家輔導") == "学生焦虑，想请专家辅导"
    assert normalise_message("孩子ＡＤＨＤ　怎么办") == "孩子ADHD注意缺陷多动障碍 怎么办"
    assert normalise_message("初二女生有nssi行为") == "初二女生有nssi非自杀性自伤行为"
    assert normalise_message("a sad story") == "a sad story"  # words are not abbreviations
    message = "老師您好，班上有個孩子上課坐不住，注意力很難集中"
    assert normalise_message(normalise_message(message)) == normalise_message(message)


def test_a_message_typed_without_any_break_is_read_in_windows(dev_models):
    # no punctuation and no spaces: the need is found inside the run-on text, the greeting is
    # left out of what BM25 reads, and the need's specialty stays among the first two
    model = dev_models[1]["product"]
    need = "有个女生用小刀划伤手臂好几次了问她就说没事"
    typed = "老师在吗我是县二中的班主任平时也兼着学校的团委工作" + need + "能不能找个专家看看谢谢"
    kept = model.need_text(typed)
    assert need in kept and "老师在吗" not in kept
    assert next(iter(model.predict(need))) in list(model.predict(typed, top=2))


def test_a_traditional_or_abbreviated_need_reads_as_its_simplified_chinese_form(dev_models):
    model = dev_models[1]["product"]
    simplified = "初一男生上课总是坐不住，注意力集中不了几分钟，作业拖拉，家长问要不要去医院"
    traditional = "初一男生上課總是坐不住，注意力集中不了幾分鐘，作業拖拉，家長問要不要去醫院"
    np.testing.assert_allclose(model.predict_proba(traditional), model.predict_proba(simplified))
    assert model.need_text(traditional) == model.need_text(simplified)
    abbreviated = "班上有个孩子确诊了ADHD，老师不知道课堂上怎么帮他"
    assert next(iter(model.predict(abbreviated))) == "注意缺陷多动障碍"
    assert next(iter(model.predict("有个学生反复NSSI，想请专家评估风险"))) in {
        "自杀风险评估",
        "心理危机干预",
    }


@pytest.mark.parametrize(
    ("message", "visit"),
    [
        ("初二女生失眠、说活着没意思，想请危机干预专家下周到校指导", True),
        ("能否请专家上门给家长做个讲座", True),
        ("希望专家來校看看", True),  # traditional characters read as simplified
        ("想请专家线上指导一下班主任", False),
        ("线上或到校均可", False),  # either way: no preference for nearby experts
        ("学生厌学", False),
    ],
)
def test_a_message_asks_for_a_visit_when_it_names_one_and_no_remote_way(message, visit):
    assert asks_for_visit(message) is visit


def test_who_and_when_words_do_not_hide_a_keyword_needs_term(dev_models):
    # 「初二学生厌学」 is a look-up of 厌学 as 「厌学」 is; 学生 is used under most specialties
    # by the labelled needs, 初二 says next to nothing on its own (search.needs.GENERIC_SPREAD,
    # WHO_EVIDENCE). The generic words travel with the saved model.
    _, models, _, _, _ = dev_models
    model = models["product"]
    assert "学生" in model.generic_words and "厌学" not in model.generic_words
    for query in ("厌学", "初二学生厌学", "高一学生厌学"):
        assert next(iter(model.predict(query))) == "学业压力与考试焦虑"
    loaded = NeedModel.from_bytes(model.to_bytes())
    assert loaded.generic_words == model.generic_words
    assert next(iter(loaded.predict("初二学生厌学"))) == "学业压力与考试焦虑"
