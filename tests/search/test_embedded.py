"""The embedded index: persistence, versions, and large indexes that keep answering while changes fold in."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import search.embedded as embedded
from search.base import Filters, SearchDocument
from search.embedded import EmbeddedIndex


def doc(n: int, words: list[str]) -> SearchDocument:
    return SearchDocument(
        id=f"expert:{n}",
        kind="expert",
        record_id=str(n),
        title=str(n),
        text="",
        tokens=words,
        specialties=[],
        filters={"kind": ["expert"]},
        sort_key=f"{n:04d}",
    )


def ids(index: EmbeddedIndex, word: str) -> set[str]:
    found = index.retrieve(
        tokens=[word], specialty_weights={}, vector=None, filters=Filters.of(), size=10
    )
    return {c.doc.record_id for c in found.candidates}


def test_writes_persist_across_processes_and_a_rebuild_replaces_everything(tmp_path):
    EmbeddedIndex(tmp_path).upsert([doc(1, ["危机"]), doc(2, ["焦虑"])])
    reader = EmbeddedIndex(tmp_path)
    assert ids(reader, "危机") == {"1"}
    EmbeddedIndex(tmp_path).rebuild([doc(3, ["危机"])])
    assert ids(reader, "危机") == {"3"} and reader.count() == 1


def test_a_process_that_only_counts_reads_ids_not_documents_and_counts_every_change(
    tmp_path, monkeypatch
):
    EmbeddedIndex(tmp_path).rebuild([doc(n, ["危机"]) for n in range(5)])
    writer = EmbeddedIndex(tmp_path)
    writer.upsert([doc(1, ["焦虑"]), doc(7, ["焦虑"])])  # one replaced, one new
    writer.delete(["expert:2", "expert:99"])  # one there, one never was
    loads: list[str] = []
    monkeypatch.setattr(EmbeddedIndex, "_apply_line", lambda self, line: loads.append(line))
    assert EmbeddedIndex(tmp_path).count() == 5  # 0 1 3 4 7
    assert loads == [], "counting loaded documents"
    monkeypatch.undo()
    assert writer.count() == 5 and ids(EmbeddedIndex(tmp_path), "焦虑") == {"1", "7"}
    # a version written before ids were kept is counted by loading it
    version = (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    (tmp_path / version / "ids.txt").unlink()
    assert EmbeddedIndex(tmp_path).count() == 5
    # a log line being written is counted once it is whole
    EmbeddedIndex(tmp_path).rebuild([doc(n, ["危机"]) for n in range(3)])
    version = (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    with open(tmp_path / version / "log.jsonl", "a", encoding="utf-8") as log:
        log.write('{"op": "delete", "id": "expert:0"')
        log.flush()
        assert EmbeddedIndex(tmp_path).count() == 3
        log.write("}\n")
    assert EmbeddedIndex(tmp_path).count() == 2


def test_a_large_index_answers_from_the_previous_state_while_a_change_is_folded_in(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(embedded, "BACKGROUND_DERIVE_DOCS", 1)
    index = EmbeddedIndex(tmp_path)
    index.upsert([doc(1, ["危机"]), doc(2, ["焦虑"])])
    assert ids(index, "危机") == {"1"}
    index.upsert([doc(3, ["危机"])])
    assert ids(index, "危机") in ({"1"}, {"1", "3"})  # never an error, never empty
    deadline = time.monotonic() + 10
    while ids(index, "危机") != {"1", "3"}:
        assert time.monotonic() < deadline, "the change never reached the index"
        time.sleep(0.05)


def _vector_docs(n: int, dims: int, rank: int, seed: int = 0) -> list[SearchDocument]:
    """Documents whose vectors lie near a `rank`-dimensional subspace, as sentence vectors do;
    every other one is in city 甲."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, dims))
    vectors += 0.05 * rng.standard_normal((n, dims))
    docs = []
    for i, v in enumerate(vectors):
        d = doc(i, ["词"])
        d.filters = {"kind": ["expert"], "city": ["甲" if i % 2 else "乙"]}
        d.vector = (v / np.linalg.norm(v)).tolist()
        docs.append(d)
    return docs


def test_a_large_index_scans_vectors_in_two_stages_and_finds_the_exact_nearest(
    tmp_path, monkeypatch
):
    docs = _vector_docs(3000, dims=64, rank=12)
    exact = EmbeddedIndex(tmp_path / "exact", vector_dims=64)
    exact.rebuild(docs)
    assert exact._state().coarse is None  # derived before the threshold is lowered
    monkeypatch.setattr(embedded, "COARSE_MIN_DOCS", 1000)
    monkeypatch.setattr(embedded, "COARSE_DIMS", 16)
    monkeypatch.setattr(embedded, "COARSE_SHORTLIST_MIN", 100)
    staged = EmbeddedIndex(tmp_path / "staged", vector_dims=64)
    staged.rebuild(docs)
    queries = _vector_docs(20, dims=64, rank=12, seed=1)
    for query in queries:
        for filters in (Filters.of(), Filters.of(city="甲")):

            def nearest(index: EmbeddedIndex) -> list[tuple[str, float]]:
                found = index.retrieve(
                    tokens=[],
                    specialty_weights={},
                    vector=query.vector,
                    filters=filters,
                    size=10,  # noqa: B023
                )
                return [(c.doc.id, round(c.dense, 5)) for c in found.candidates]

            assert nearest(staged) == nearest(exact)
            assert len(nearest(staged)) == 10
    assert staged._state().coarse is not None


def test_an_index_written_with_vectors_as_json_lists_still_answers(tmp_path):
    """Version files of earlier releases held each vector as a JSON list of numbers."""
    docs = _vector_docs(50, dims=8, rank=3)
    EmbeddedIndex(tmp_path, vector_dims=8).rebuild(docs)
    version = (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    lines = [
        json.dumps({"op": "upsert", "doc": d.to_source(), "vector": d.vector}, ensure_ascii=False)
        for d in docs
    ]
    (tmp_path / version / "docs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = EmbeddedIndex(tmp_path, vector_dims=8).retrieve(
        tokens=[], specialty_weights={}, vector=docs[7].vector, filters=Filters.of(), size=3
    )
    assert found.candidates[0].doc.id == docs[7].id
    assert found.candidates[0].dense == pytest.approx(1.0, abs=1e-5)
