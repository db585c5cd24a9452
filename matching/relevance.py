"""Relevance of experts to request texts, behind one small batch interface.

Matching takes a `Relevance`: `scores(texts, expert_ids)` returns a len(texts) × len(expert_ids)
array in [0, 1], and optionally `needs(texts)` returns each text's probability over the
specialty vocabulary (used for specialty fit and for the "擅长：…" reason). Any function with
these shapes can be injected (tests use a fake; a future search service can plug in here).

`default_relevance` builds the best one available from the expert texts:
* search.needs (learned text → specialty model of the search package) + BM25, when importable;
* otherwise `bm25_baseline`: BM25 (bm25s) over jieba tokens of specialties + title + bio, the
  reference baseline of ../shared/eval/README.md, kept here as the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from matching.priors import ServiceTypePrior

if TYPE_CHECKING:
    from search.encoder import Encoder
    from search.needs import NeedModel

log = logging.getLogger("heart.matching")

NEED_TOP = 5
ScoresFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]
NeedsFn = Callable[[Sequence[str]], list[dict[str, float]]]


@dataclass(frozen=True)
class ExpertText:
    """The searchable text of one expert."""

    id: str
    specialties: tuple[str, ...]
    title: str = ""
    bio: str = ""


@dataclass
class Relevance:
    scores: ScoresFn
    needs: NeedsFn | None = None
    name: str = "custom"
    # reweights each need by its service type (matching.priors), when labelled requests exist
    prior: ServiceTypePrior | None = None

    def need_weights(
        self, texts: Sequence[str], service_types: Sequence[str]
    ) -> list[dict[str, float]]:
        """Each request's specialty distribution: the need model's, times the service-type prior."""
        if self.needs is None:
            return [{} for _ in texts]
        needs = self.needs(texts)
        if self.prior is None:
            return needs
        return [self.prior.apply(n, t) for n, t in zip(needs, service_types, strict=True)]


def _tokenizer(vocabulary: Sequence[str], synonyms: Mapping[str, Sequence[str]] | None):
    """The search package's Chinese analyzer when present, else plain jieba search-mode cut."""
    try:
        from search.analysis import ChineseAnalyzer  # noqa: PLC0415

        return ChineseAnalyzer(vocabulary, synonyms=synonyms).tokens
    except ImportError:  # pragma: no cover - search package absent
        import jieba  # noqa: PLC0415

        for word in vocabulary:
            jieba.add_word(word)
        return lambda text: [t for t in jieba.lcut_for_search(text or "") if t.strip()]


class BM25Scores:
    """BM25 over expert texts; per text, scores are divided by the best one (→ [0, 1]).
    `tokenize` reads the experts' texts, and the asking texts unless `tokenize_query` is given
    (a request is read as the need in it; a profile is read whole, as the search index does)."""

    def __init__(
        self,
        experts: Sequence[ExpertText],
        tokenize: Callable[[str], list[str]],
        tokenize_query: Callable[[str], list[str]] | None = None,
    ) -> None:
        import bm25s  # noqa: PLC0415

        self.tokenize = tokenize_query or tokenize
        self.index = {e.id: i for i, e in enumerate(experts)}
        corpus = [tokenize(" ".join([*e.specialties, e.title, e.bio])) or ["_"] for e in experts]
        self.model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        self.model.index(corpus, show_progress=False) if experts else None
        self.size = len(experts)

    def __call__(self, texts: Sequence[str], expert_ids: Sequence[str]) -> np.ndarray:
        columns = np.array([self.index.get(e, -1) for e in expert_ids], dtype=np.int64)
        out = np.zeros((len(texts), len(expert_ids)), dtype=np.float32)
        if not self.size:
            return out
        for row, text in enumerate(texts):
            tokens = list(dict.fromkeys(self.tokenize(text)))
            ids = self.model.get_tokens_ids(tokens) if tokens else []
            if not ids:
                continue
            scores = np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)
            best = scores.max()
            if best > 0:
                out[row] = np.where(columns >= 0, scores[np.maximum(columns, 0)] / best, 0.0)
        return out


def bm25_baseline(
    experts: Sequence[ExpertText],
    *,
    vocabulary: Sequence[str] = (),
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> Relevance:
    """The fallback: BM25 over jieba tokens of specialties + title + bio, no specialty model."""
    return Relevance(BM25Scores(experts, _tokenizer(vocabulary, synonyms)), None, "bm25-baseline")


def need_model_relevance(
    experts: Sequence[ExpertText],
    *,
    vocabulary: Sequence[str],
    synonyms: Mapping[str, Sequence[str]] | None = None,
    model: NeedModel | None = None,
    extra_examples: Sequence[tuple] = (),
    encoder: Encoder | None = None,
) -> Relevance:
    """search.needs' learned text → specialty model + BM25: `model` when given (the search
    package's saved one; `encoder` is attached to it for its dense view), else one trained on
    the expert texts plus `extra_examples` (labelled needs, search.tuning.labelled_examples),
    with `encoder` (search.encoder) for its dense view when the encoder reads Chinese."""
    from search.needs import examples_from_experts, fit_need_model  # noqa: PLC0415

    synonyms = {k: list(v) for k, v in (synonyms or {}).items()}
    if model is None:
        records = [
            {"specialties": list(e.specialties), "title": e.title, "bio": e.bio} for e in experts
        ]
        model = fit_need_model(
            examples_from_experts(records, vocabulary=list(vocabulary), synonyms=synonyms)
            + list(extra_examples),
            vocabulary=list(vocabulary),
            synonyms=synonyms,
            encoder=encoder,
        )
    else:
        model.attach_encoder(encoder)
    # BM25 reads what the need model reads as need: the greeting, school facts, logistics and
    # thanks of a message would otherwise match experts by their words (search.needs)
    need_texts: dict[str, str] = {}

    def need_tokens(text: str) -> list[str]:
        if text not in need_texts:
            need_texts[text] = model.need_text(text)
        return model.analyzer.tokens(need_texts[text])

    bm25 = BM25Scores(experts, model.analyzer.tokens, need_tokens)

    def needs(texts: Sequence[str]) -> list[dict[str, float]]:
        # The classifier's own top-5 probabilities: blending in pseudo-relevance feedback from
        # the BM25 top experts raised top-1 accuracy but lowered the matched grade (1.25 vs
        # 1.35 on the dev requests): calibration matters more than the argmax here.
        return model.predict_many(list(texts), top=NEED_TOP, min_prob=0.01)

    return Relevance(bm25, needs, "need-model+bm25")


def default_relevance(
    experts: Sequence[ExpertText],
    *,
    vocabulary: Sequence[str],
    synonyms: Mapping[str, Sequence[str]] | None = None,
    extra_examples: Sequence[tuple] = (),
    encoder: Encoder | None = None,
) -> Relevance:
    """The best relevance available here (see the module docstring)."""
    try:
        return need_model_relevance(
            experts,
            vocabulary=vocabulary,
            synonyms=synonyms,
            extra_examples=extra_examples,
            encoder=encoder,
        )
    except ImportError:
        log.info("search.needs unavailable; matching falls back to the BM25 baseline")
        return bm25_baseline(experts, vocabulary=vocabulary, synonyms=synonyms)
