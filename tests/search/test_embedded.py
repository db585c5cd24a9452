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


def test_a_process_that_never_loaded_the_index_counts_its_documents_without_loading_them(
    tmp_path, monkeypatch
):
    EmbeddedIndex(tmp_path).rebuild([doc(n, ["词"]) for n in range(5)])
    writer = EmbeddedIndex(tmp_path)
    writer.upsert([doc(1, ["危机"]), doc(7, ["焦虑"]), doc(8, ['带"引号'])])  # one edit, two new
    writer.delete(["expert:2", "expert:9"])  # one held, one never indexed
    with (
        (tmp_path / "CURRENT").open() as pointer,
        (tmp_path / pointer.read() / "log.jsonl").open("a") as log,
    ):
        log.write('{"op": "upsert", "doc": {"id": "expert:')  # a line still being written
    loaded = EmbeddedIndex(tmp_path)
    assert ids(loaded, "词") == {"0", "3", "4"}
    expected = loaded.count()
    assert expected == 6

    def no_loading(self, line):
        raise AssertionError("the documents were loaded to count them")

    monkeypatch.setattr(EmbeddedIndex, "_apply_line", no_loading)
    assert EmbeddedIndex(tmp_path).count() == expected
    assert loaded.count() == expected  # a process holding the index counts what it holds
    monkeypatch.undo()

    # a version written before id lists were kept is loaded and counted
    (tmp_path / (tmp_path / "CURRENT").read_text() / embedded.IDS_FILE).unlink()
    assert EmbeddedIndex(tmp_path).count() == expected
