"""The embedding cache: a rebuild encodes only text it has not encoded before."""

from __future__ import annotations

import numpy as np
import pytest

from search.embed_cache import CachedEncoder, EmbeddingCache, text_hash


class CountingEncoder:
    """A deterministic fake encoder that records every text it is asked to encode."""

    name = "counting-test-encoder"
    dims = 8

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(text_hash(text)[:4], "little")
            out[row] = np.random.default_rng(seed).standard_normal(self.dims)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_a_second_pass_encodes_only_new_or_changed_texts_and_answers_the_same_vectors(tmp_path):
    inner = CountingEncoder()
    first = CachedEncoder(inner, EmbeddingCache(tmp_path / "emb.sqlite"))
    texts = [f"专家简介 {i}" for i in range(100)]
    before = first.encode(texts)
    assert first.encoded == 100 and first.reused == 0

    # a new process with the same cache file: 1 changed and 1 new text among 101
    again = CachedEncoder(inner, EmbeddingCache(tmp_path / "emb.sqlite"))
    changed = [*texts[:99], "专家简介 99（已更新）", "新专家"]
    after = again.encode(changed)
    assert inner.calls[-1] == ["专家简介 99（已更新）", "新专家"]
    assert again.encoded == 2 and again.reused == 99
    np.testing.assert_array_equal(after[:99], before[:99])
    np.testing.assert_array_equal(after[99:], inner.encode(changed[99:]))


def test_vectors_are_kept_per_model(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    one, other = CountingEncoder(), CountingEncoder()
    other.name = "another-model"
    CachedEncoder(one, cache).encode(["厌学"])
    CachedEncoder(other, cache).encode(["厌学"])
    assert len(one.calls) == 1 and len(other.calls) == 1
    assert cache.count(one.name) == 1 and cache.count() == 2


def test_duplicates_in_one_call_are_encoded_once_and_empty_input_is_fine(tmp_path):
    inner = CountingEncoder()
    encoder = CachedEncoder(inner, EmbeddingCache(tmp_path / "emb.sqlite"))
    vectors = encoder.encode(["沙盘", "沙盘", "自伤"])
    assert inner.calls == [["沙盘", "自伤"]]
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert encoder.encode([]).shape == (0, inner.dims)


def test_prune_drops_texts_no_longer_in_the_directory(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    encoder = CachedEncoder(CountingEncoder(), cache)
    encoder.encode(["甲", "乙", "丙"])
    assert cache.prune(encoder.name, {text_hash("甲")}) == 2
    assert cache.count(encoder.name) == 1


@pytest.mark.slow
def test_the_chinese_encoder_gives_the_same_vectors_on_many_threads_as_on_one():
    from search.encoder import CHINESE_MODEL, OnnxEncoder, default_models_dir

    folder = default_models_dir() / CHINESE_MODEL
    if not (folder / "model.onnx").exists():
        pytest.skip("bge-small-zh-v1.5 not installed (scripts/fetch-models)")
    texts = [("学生" * (i % 40 + 1)) + f"需求{i}" for i in range(70)]
    single = OnnxEncoder(CHINESE_MODEL, str(folder), batch_threads=1).encode(texts, batch_size=8)
    threaded = OnnxEncoder(CHINESE_MODEL, str(folder), batch_threads=2).encode(texts, batch_size=8)
    np.testing.assert_allclose(threaded, single, atol=1e-5)
