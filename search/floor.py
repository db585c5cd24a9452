"""The relevance floor: when a query is about nothing the directory covers, say so.

BM25 and the need model always rank something, so "量子力学", random letters or emoji used to
get the whole directory back. The floor reads two things:

* word coverage: the share of the query's whole words (tokens that are not part of a longer
  token of the query, so "量子力学" counts as one word, not as "力学" found in "心理动力学")
  that occur in any retrieved document (lexical, need-model and dense candidates);
* the need model's top specialty probability (a query it cannot read gets ~1/28 everywhere).

A query none of whose words occurs in the directory, and which the need model does not read
with some confidence either, gets "no match". Calibrated on the 224 dev needs and 20
out-of-domain queries with both need models (`benchmarks/search_floor.py` prints the figures):
the word coverage of dev needs was 0 for one need only (its top probability 0.44), while 13 of
the 18 out-of-domain queries with words had coverage 0 (top probability ≤ 0.34).
"""

from __future__ import annotations

from collections.abc import Sequence

from search.base import Candidate

MIN_COVERAGE = 0.02  # below: no whole word of the query occurs in the directory
NEED_CONFIDENCE = 0.4  # ... unless the need model reads a specialty this confidently
SUGGESTIONS = 2


def whole_words(tokens: Sequence[str]) -> list[str]:
    """The query's tokens that are not part of a longer token of the same query."""
    distinct = [t for t in dict.fromkeys(tokens) if t.strip()]
    return [t for t in distinct if not any(t != other and t in other for other in distinct)]


def coverage(tokens: Sequence[str], candidates: Sequence[Candidate]) -> float:
    """0..1: the share of the query's whole-word characters found in the retrieved documents."""
    words = whole_words(tokens)
    if not words:
        return 0.0
    held: set[str] = set()
    for candidate in candidates:
        held.update(candidate.doc.tokens)
    return sum(len(w) for w in words if w in held) / sum(len(w) for w in words)


def is_no_match(
    tokens: Sequence[str],
    candidates: Sequence[Candidate],
    needs: dict[str, float],
    *,
    lookup: float = 0.0,
) -> bool:
    """True when the query is below the floor (or has no searchable token at all); a look-up
    (a name or a phrase a document contains whole, search.service.lookup_strength) never is."""
    if not tokens:
        return True
    if lookup > 0:
        return False
    top = max(needs.values(), default=0.0)
    # the confident reading first: coverage reads every candidate's tokens (~1 ms at 100k)
    return top < NEED_CONFIDENCE and coverage(tokens, candidates) < MIN_COVERAGE


def suggestions(needs: dict[str, float], vocabulary: Sequence[str]) -> list[str]:
    """The closest specialties to offer instead: the need model's top two, else the first
    specialties of the vocabulary (a query the model cannot read at all)."""
    ranked = [name for name, _ in sorted(needs.items(), key=lambda kv: -kv[1])]
    chosen = ranked[:SUGGESTIONS]
    for name in vocabulary:
        if len(chosen) >= SUGGESTIONS:
            break
        if name not in chosen:
            chosen.append(name)
    return chosen
