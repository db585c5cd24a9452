"""Fusion weights from measured usefulness, optional labelled needs, and Chinese hit reasons.

The lexical and need-model weights come from the dev-set measurements in search/ranking.py.
The dense weight is measured on each rebuild, on the directory itself: bio sentences are
used as pseudo-needs (relevant = the other experts sharing a specialty with the writer), and
the dense signal earns weight only in proportion to how much better than chance it ranks
compared with BM25. An English-only model scores near chance on Chinese text and gets ~0;
a Chinese-capable model (HEART_EMBED_MODEL) earns a real share.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from marketplace.errors import InvalidInput
from search import ranking
from search.analysis import ChineseAnalyzer
from search.base import Candidate, Filters, SearchDocument
from search.embedded import EmbeddedIndex
from search.encoder import Encoder
from search.metrics import mean, ndcg_at_k
from search.needs import QUERY_SOURCE, split_sentences

if TYPE_CHECKING:
    from marketplace.settings import Settings

PSEUDO_QUERIES = 200
SEED = 20261128


DENSE_WEIGHT_MAX = 0.3  # what a dense signal as good as BM25 earns next to the need model (1.0)


@dataclass
class Weights:
    """Fusion weights as stored beside the index; defaults are search/ranking.py's measurements."""

    lexical: float = ranking.DEFAULT_WEIGHTS.lexical
    need: float = ranking.DEFAULT_WEIGHTS.need
    dense: float = 0.0
    dense_usefulness: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def fusion(self) -> ranking.FusionWeights:
        return ranking.FusionWeights(need=self.need, lexical=self.lexical, dense=self.dense)


def load_weights(path: Path) -> Weights:
    try:
        return Weights(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, TypeError, ValueError):
        return Weights()


BUILTIN_NEEDS = Path(__file__).resolve().parent / "data" / "labelled_needs.jsonl"


def labelled_examples(settings: Settings) -> list[tuple[str, list[str], float, str]]:
    """Labelled needs to learn from besides the directory (see HEART_SEARCH_TRAINING_NEEDS).

    They train the classifier but stay out of the need model's nearest-neighbour memory
    (search.needs.QUERY_SOURCE): cross-validated on the dev set they add about +0.013 nDCG@10.
    """
    choice = settings.search_training_needs.strip()
    if not choice or choice.lower() == "none":
        return []
    path = BUILTIN_NEEDS if choice == "builtin" else Path(choice).expanduser()
    if not path.is_file():
        raise InvalidInput(f"找不到标注需求文件：{path}")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, specialties = str(item["text"]), [str(s) for s in item["specialties"]]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                f"标注需求文件第 {number} 行格式不对：应为 {{text, specialties}}"
            ) from None
        examples.append((text, specialties, 1.0, QUERY_SOURCE))
    return examples


def _pseudo_queries(docs: list[SearchDocument]) -> list[tuple[str, str, set[str]]]:
    """(sentence, writer doc id, writer's specialties) sampled from expert bios."""
    rng = random.Random(SEED)
    shuffled = list(docs)
    rng.shuffle(shuffled)
    out = []
    for doc in shuffled:
        sentences = [s for s in split_sentences(doc.text) if len(s) >= 8]
        if sentences and doc.specialties:
            out.append((rng.choice(sentences), doc.id, set(doc.specialties)))
        if len(out) >= PSEUDO_QUERIES:
            break
    return out


def _ndcg_of(pool: list[Candidate], writer: str, wanted: set[str], key) -> float:
    others = [c for c in pool if c.doc.id != writer]
    grades = {c.doc.id: 2 if wanted & set(c.doc.specialties) else 0 for c in others}
    return ndcg_at_k([c.doc.id for c in sorted(others, key=key)], grades, 10)


def dense_usefulness(
    sample: list[SearchDocument], encoder: Encoder, analyzer: ChineseAnalyzer
) -> float:
    """How much of BM25's gain over chance the dense signal reaches on pseudo-needs (0..1).

    `sample` documents must carry vectors. Pseudo-needs are bio sentences; relevant = the
    other experts sharing a specialty with the writer.
    """
    queries = _pseudo_queries(sample)
    if not queries:
        return 0.0
    with tempfile.TemporaryDirectory() as scratch:
        index = EmbeddedIndex(Path(scratch), vector_dims=encoder.dims)
        index.rebuild(sample)
        vectors = encoder.encode([q for q, _, _ in queries])
        rng = random.Random(SEED)
        lexical, dense, chance = [], [], []
        for (text, writer, wanted), vector in zip(queries, vectors, strict=True):
            pool = index.retrieve(
                tokens=list(dict.fromkeys(analyzer.tokens(text))),
                specialty_weights={},
                vector=vector.tolist(),
                filters=Filters.of(),
                size=100,
            ).candidates
            lexical.append(_ndcg_of(pool, writer, wanted, lambda c: (-c.lexical, c.doc.id)))
            dense.append(_ndcg_of(pool, writer, wanted, lambda c: (-c.dense, c.doc.id)))
            shuffled = {c.doc.id: rng.random() for c in pool}
            chance.append(_ndcg_of(pool, writer, wanted, lambda c, order=shuffled: order[c.doc.id]))
    gain = mean(lexical) - mean(chance)
    return max(0.0, min(1.0, (mean(dense) - mean(chance)) / gain)) if gain > 0 else 0.0


def calibrate(
    sample: list[SearchDocument], encoder: Encoder | None, analyzer: ChineseAnalyzer
) -> Weights:
    """Weights for this directory and encoder: the dense weight follows its measured usefulness."""
    weights = Weights()
    if encoder is not None and sample:
        usefulness = dense_usefulness(sample, encoder, analyzer)
        # Only dense quality beyond half of BM25's counts: an English model reading Chinese
        # lands below that and is switched off (and then no vectors are computed at all).
        share = max(0.0, (usefulness - 0.5) / 0.5)
        weights.dense = round(DENSE_WEIGHT_MAX * share, 4)
        weights.dense_usefulness = round(usefulness, 4)
    return weights


def save_weights(weights: Weights, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(weights.as_dict()), encoding="utf-8")


def whole_terms(terms: list[str]) -> list[str]:
    """The terms that are whole words of the text they were found in, in order: the analyzer
    also searches a word's pieces (班主任 → 班主, 主任, 班主任), and a piece found inside a longer
    term found with it is that term's fragment, not a keyword of its own."""
    return [t for t in terms if not any(t != other and t in other for other in terms)]


def reasons(
    matched: list[tuple[str, float]], highlights: list[str], candidate: Candidate
) -> list[str]:
    """Why a hit matched, in Chinese."""
    out = []
    if matched:
        out.append("擅长：" + "、".join(f"{name}（{p:.0%}）" for name, p in matched))
    words = whole_terms(highlights)
    if words:
        out.append("关键词：" + "、".join(words[:4]))
    if candidate.dense > 0 and not out:
        out.append("语义相近")
    return out
