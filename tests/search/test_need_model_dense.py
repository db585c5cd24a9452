"""The need model's dense view: learnt only from an encoder that reads the texts, saved with the
model, and used again only with the same encoder attached."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marketplace.errors import InvalidInput
from search.encoder import (
    CHINESE_MODEL,
    CHINESE_MODEL_INT8,
    DEFAULT_MODEL,
    effective_model,
    load_encoder,
)
from search.needs import NeedModel, examples_from_experts, fit_need_model
from tests.conftest import DEMO_EXPERTS
from tests.search.test_calibration import SPECIALTIES, NoiseEncoder

RECORDS = [json.loads(line) for line in DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()[:200]]
# A need phrased in words no bio uses: only an encoder that knows what they mean can place it.
HIDDEN_NEED = "孩子说不想活了还把心爱的东西都送人了"
HIDDEN_SPECIALTY = "自杀风险评估"


class KeywordEncoder:
    """Places texts by the specialty their words point to (a stand-in for a Chinese model that
    knows that 不想活了 is about suicide risk): every bio sentence near its expert's first
    specialty, the hidden need near its specialty."""

    name, dims = "keyword", len(SPECIALTIES)

    def __init__(self) -> None:
        self.first = {}
        for record in RECORDS:
            for text in [
                record["bio"],
                record["title"],
                *record["bio"].replace("；", "。").split("。"),
            ]:
                self.first.setdefault(text.strip(" ，,、"), record["specialties"][0])
        self.first.update({s: s for s in SPECIALTIES})
        self.first[HIDDEN_NEED] = HIDDEN_SPECIALTY

    def encode(self, texts, *, batch_size=32):
        out = np.full((len(texts), self.dims), 1e-2, dtype=np.float32)
        for row, text in enumerate(texts):
            s = self.first.get(text)
            if s in SPECIALTIES:
                out[row, SPECIALTIES.index(s)] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def fit(encoder=None) -> NeedModel:
    examples = examples_from_experts(RECORDS, vocabulary=SPECIALTIES)
    return fit_need_model(examples, vocabulary=SPECIALTIES, encoder=encoder)


def test_an_encoder_that_reads_the_texts_adds_a_dense_view_that_is_saved_with_the_model():
    encoder = KeywordEncoder()
    model = fit(encoder)
    assert model.meta["dense_lift"] >= 0.3 and model.uses_dense
    assert next(iter(model.predict(HIDDEN_NEED, top=1))) == HIDDEN_SPECIALTY
    lexical_only = fit()
    assert next(iter(lexical_only.predict(HIDDEN_NEED, top=1))) != HIDDEN_SPECIALTY

    loaded = NeedModel.from_bytes(model.to_bytes())
    assert not loaded.uses_dense  # the encoder is not part of the file
    assert loaded.attach_encoder(encoder)
    for text, got in zip(
        [HIDDEN_NEED, "生涯规划"], loaded.predict_many([HIDDEN_NEED, "生涯规划"]), strict=True
    ):
        want = model.predict(text)
        assert list(got) == list(want)  # the saved model (float16 weights) ranks the same
        assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-3)


def test_a_model_refuses_an_encoder_it_was_not_trained_with():
    model = NeedModel.from_bytes(fit(KeywordEncoder()).to_bytes())
    assert not model.attach_encoder(NoiseEncoder())
    assert not model.uses_dense
    assert model.predict("生涯规划")  # the lexical view still answers


def test_an_encoder_that_reads_nothing_adds_no_dense_view():
    model = fit(NoiseEncoder())
    assert model.meta["dense_lift"] < 0.3
    assert model.dense_coef is None and not model.uses_dense


def _install_fake(models_dir, name):
    installed = models_dir / name
    installed.mkdir()
    (installed / "model.onnx").write_bytes(b"")
    (installed / "tokenizer.json").write_text("{}")


def test_auto_picks_the_chinese_model_only_when_it_is_installed(tmp_path):
    assert effective_model("auto", tmp_path) == DEFAULT_MODEL
    _install_fake(tmp_path, CHINESE_MODEL)
    assert effective_model("auto", tmp_path) == CHINESE_MODEL
    assert effective_model("none", tmp_path) == "none"


def test_auto_prefers_the_fp32_chinese_model_and_int8_stays_selectable_by_name(tmp_path):
    _install_fake(tmp_path, CHINESE_MODEL_INT8)
    assert effective_model("auto", tmp_path) == CHINESE_MODEL_INT8  # the only one installed
    _install_fake(tmp_path, CHINESE_MODEL)
    assert effective_model("auto", tmp_path) == CHINESE_MODEL
    assert effective_model("AUTO", tmp_path) == CHINESE_MODEL
    assert effective_model(CHINESE_MODEL_INT8, tmp_path) == CHINESE_MODEL_INT8


def test_a_named_model_that_is_not_installed_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="scripts/fetch-models"):
        load_encoder(CHINESE_MODEL, models_dir=tmp_path)


@pytest.mark.slow
def test_the_installed_chinese_model_reads_chinese_needs():
    """bge-small-zh-v1.5 from scripts/fetch-models (bootstrap installs it; CI runs this)."""
    encoder = load_encoder(CHINESE_MODEL)
    assert encoder.dims == 512
    need, near, far = encoder.encode(
        ["学生说活着没意思，想结束自己的生命", "学生有轻生的念头", "学生下周要考试很紧张"]
    )
    assert np.isclose(np.linalg.norm(need), 1.0, atol=1e-4)
    assert need @ near > need @ far
    # batching by length gives the same vectors as one text at a time
    texts = ["厌学", "班主任不知道怎么和家长沟通孩子的情绪问题", "考试焦虑"]
    batch = encoder.encode(texts)
    single = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-4)
    model = fit(encoder)
    assert model.uses_dense and model.meta["dense_lift"] >= 0.3


class CountingEncoder(KeywordEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts, *, batch_size=32):
        self.encoded.extend(texts)
        return super().encode(texts, batch_size=batch_size)


def test_a_memo_encoder_encodes_each_text_once_and_answers_the_same_vectors():
    from search.encoder import MemoEncoder

    inner = CountingEncoder()
    memo = MemoEncoder(inner, limit=2)
    first = memo.encode(["生涯规划", HIDDEN_NEED, "生涯规划"])
    again = memo.encode([HIDDEN_NEED, "生涯规划", "家庭教育指导"])
    assert inner.encoded == ["生涯规划", HIDDEN_NEED, "家庭教育指导"]
    assert np.allclose(first[[1, 0]], again[:2]) and np.allclose(first[0], first[2])
    assert np.allclose(again[2], inner.encode(["家庭教育指导"])[0])
    memo.encode(["家庭教育指导"])  # over the limit: not remembered, encoded again
    assert inner.encoded.count("家庭教育指导") == 3
    assert memo.encode([]).shape == (0, memo.dims) and (memo.name, memo.dims) == (
        inner.name,
        inner.dims,
    )
