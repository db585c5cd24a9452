"""The embedded index: persistence, versions, and large indexes that keep answering while changes fold in."""

from __future__ import annotations

import time

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
