"""ElasticIndex against a real Elasticsearch node (HEART_TEST_ES_URL)."""

from __future__ import annotations

import random
import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import bm25s
import numpy as np
import pytest

import search.elastic as elastic_module
from marketplace.errors import Unavailable
from marketplace.settings import Settings
from search.base import FACET_FIELDS, Filters, SearchDocument
from search.elastic import ElasticIndex, IndexWriteError

es = pytest.mark.es


def doc(
    number: int,
    tokens: str = "",
    *,
    kind: str = "expert",
    specialties: tuple[str, ...] = (),
    vector: list[float] | None = None,
    sort_key: str | None = None,
    **filters: str | list[str],
) -> SearchDocument:
    values = {k: [v] if isinstance(v, str) else list(v) for k, v in filters.items()}
    values.setdefault("kind", [kind])
    values.setdefault("specialties", list(specialties))
    return SearchDocument(
        id=f"{kind}:{number}",
        kind=kind,
        record_id=str(number),
        title=f"标题{number}",
        text=f"简介{number}",
        tokens=tokens.split(),
        specialties=list(specialties),
        filters=values,
        vector=vector,
        sort_key=sort_key if sort_key is not None else f"{number:04d}",
    )


def retrieve(
    index: ElasticIndex, tokens: str = "", *, weights=None, vector=None, filters=None, size=10
):
    return index.retrieve(
        tokens=tokens.split(),
        specialty_weights=weights or {},
        vector=vector,
        filters=filters or Filters(),
        size=size,
    )


# -- writes and reads --------------------------------------------------------------------
@es
def test_writes_before_any_rebuild_create_the_first_version(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(1, "心理 危机"), doc(2, "家庭 教育")])

    assert elastic_index.count() == 2
    assert elastic_index.current_index() == f"{elastic_index.alias}_v0"


@es
def test_concurrent_first_writers_share_one_first_version(make_elastic_index) -> None:
    alias = make_elastic_index().alias
    writers = [make_elastic_index(alias) for _ in range(6)]

    with ThreadPoolExecutor(len(writers)) as pool:
        list(pool.map(lambda pair: pair[1].upsert([doc(pair[0], "心理")]), enumerate(writers)))

    assert writers[0].versions() == [f"{alias}_v0"]
    assert writers[0].count() == len(writers)


@es
def test_upsert_replaces_and_get_returns_stored_documents(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(1, "心理 危机", specialties=("危机干预",), city="北京")])
    elastic_index.upsert([doc(1, "家庭 教育", specialties=("家庭教育",), city="上海")])

    got = elastic_index.get(["expert:1", "expert:404"])

    assert list(got) == ["expert:1"]
    assert got["expert:1"] == doc(1, "家庭 教育", specialties=("家庭教育",), city="上海")
    assert elastic_index.count() == 1


@es
def test_delete_removes_documents_and_ignores_unknown_ids(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(1, "心理"), doc(2, "教育")])

    elastic_index.delete(["expert:1", "expert:404"])
    elastic_index.delete(["expert:404"])

    assert elastic_index.count() == 1
    assert elastic_index.get(["expert:1", "expert:2"]).keys() == {"expert:2"}
    assert [c.doc.id for c in retrieve(elastic_index, "心理 教育").candidates] == ["expert:2"]


@es
def test_rejected_documents_raise_an_error_listing_their_ids(make_elastic_index) -> None:
    index = make_elastic_index(vector_dims=3)

    with pytest.raises(IndexWriteError) as raised:
        index.upsert([doc(1, "好", vector=[1, 0, 0]), doc(2, "坏", vector=[1, 0, 0, 0, 0])])

    assert "expert:2" in raised.value.message
    assert list(raised.value.details) == ["expert:2"]
    assert index.get(["expert:1"]).keys() == {"expert:1"}


@es
def test_ping_is_true_for_a_live_node(elastic_index: ElasticIndex) -> None:
    assert elastic_index.ping() is True


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_engine_down_pings_false_and_raises_unavailable_in_chinese() -> None:
    index = ElasticIndex(f"http://127.0.0.1:{_closed_port()}", "down", retries=0, request_timeout=2)

    assert index.ping() is False
    for call in (
        index.count,
        lambda: index.upsert([doc(1, "心理")]),
        lambda: retrieve(index, "心理"),
        lambda: index.browse(filters=Filters(), offset=0, size=10),
    ):
        with pytest.raises(Unavailable) as raised:
            call()
        assert raised.value.status_code == 503
        assert "搜索引擎暂时不可用" in raised.value.message


def test_from_settings_reads_comma_separated_urls_and_the_alias(tmp_path) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path,
        elasticsearch_url="http://127.0.0.1:9250, http://127.0.0.1:9251",
        elasticsearch_index="hub",
    )

    index = ElasticIndex.from_settings(settings, vector_dims=8)

    assert index.alias == "hub" and index.vector_dims == 8
    assert sorted(n.config.port for n in index.client.transport.node_pool.all()) == [9250, 9251]


# -- filters and browse ------------------------------------------------------------------
def _filtered_corpus() -> list[SearchDocument]:
    rng = random.Random(7)
    docs = []
    for number in range(40):
        kind = "expert" if number % 3 else "service"
        docs.append(
            doc(
                number,
                "心理 " + rng.choice(["危机", "家庭", "学业"]),
                kind=kind,
                specialties=tuple(rng.sample(["危机干预", "家庭教育", "学业压力", "自伤"], 2)),
                sort_key=rng.choice(["a", "b", "c"]),  # many ties: id breaks them
                domain=rng.choice(["psychology", "education"]),
                city=rng.choice(["北京", "上海", "广州"]),
                formats=rng.sample(["online", "onsite"], rng.randint(1, 2)),
                languages=["zh"],
            )
        )
    return docs


@es
@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters.of(city="北京"),
        Filters.of(city=["北京", "上海"], formats="online"),
        Filters.of(kind="service", domain="education"),
        Filters.of(specialties="自伤", formats=["onsite"]),
        Filters.of(city="深圳"),
    ],
    ids=[
        "none",
        "city",
        "cities-and-format",
        "kind-and-domain",
        "specialty-and-format",
        "no-match",
    ],
)
def test_browse_returns_filtered_documents_in_sort_key_then_id_order_with_total_and_facets(
    elastic_index: ElasticIndex, filters: Filters
) -> None:
    corpus = _filtered_corpus()
    elastic_index.upsert(corpus)
    expected = sorted(
        (d for d in corpus if filters.matches(d.filters)), key=lambda d: (d.sort_key, d.id)
    )

    pages = [
        elastic_index.browse(filters=filters, offset=offset, size=7) for offset in range(0, 42, 7)
    ]

    assert [c.doc.id for p in pages for c in p.candidates] == [d.id for d in expected]
    assert {p.total for p in pages} == {len(expected)}
    facets = pages[0].facets
    assert set(facets) == set(FACET_FIELDS)
    for name in FACET_FIELDS:
        counted = Counter(v for d in expected for v in set(d.filters.get(name, [])))
        assert facets[name] == dict(counted)


@es
def test_browse_beyond_the_result_window_walks_the_same_order(
    elastic_index: ElasticIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    elastic_index.upsert(_filtered_corpus())
    regular = elastic_index.browse(filters=Filters.of(city=["北京", "上海"]), offset=9, size=5)

    monkeypatch.setattr(elastic_module, "MAX_WINDOW", 4)
    deep = elastic_index.browse(filters=Filters.of(city=["北京", "上海"]), offset=9, size=5)

    assert [c.doc.id for c in deep.candidates][:4] == [c.doc.id for c in regular.candidates][:4]
    assert deep.total == regular.total


@es
def test_retrieve_keeps_only_documents_passing_the_filters(make_elastic_index) -> None:
    index = make_elastic_index(vector_dims=2)
    corpus = _filtered_corpus()
    for number, d in enumerate(corpus):
        d.vector = [1.0, number / 10]
    index.upsert(corpus)
    filters = Filters.of(city=["北京", "上海"], formats="online")

    found = retrieve(
        index, "心理", weights={"自伤": 1.0}, vector=[1.0, 0.0], filters=filters, size=100
    )

    expected = {d.id for d in corpus if filters.matches(d.filters)}
    assert {c.doc.id for c in found.candidates} == expected
    assert found.total == len(expected)


# -- retrieve: signals and union ---------------------------------------------------------
def _bm25s_scores(corpus: list[SearchDocument], query: list[str]) -> dict[str, float]:
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index([d.tokens for d in corpus], show_progress=False)
    scores = model.get_scores(list(dict.fromkeys(query)))
    return {d.id: float(s) for d, s in zip(corpus, scores, strict=True) if s > 0}


def _random_corpus(seed: int, lengths: range) -> list[SearchDocument]:
    rng = random.Random(seed)
    vocabulary = [f"词{i}" for i in range(30)]
    weights = [1 / (i + 1) for i in range(30)]  # Zipf-like, so IDF varies
    return [
        doc(n, " ".join(rng.choices(vocabulary, weights, k=rng.choice(lengths)))) for n in range(60)
    ]


@es
@pytest.mark.parametrize(
    ("lengths", "tolerance"),
    # Lucene stores document lengths in one byte: exact below 24 tokens, ~6% steps above.
    [(range(1, 20), 1e-4), (range(20, 200), 0.08)],
    ids=["short-docs-exact", "long-docs-lossy-lengths"],
)
def test_lexical_scores_equal_bm25s_lucene_scores(
    elastic_index: ElasticIndex, lengths: range, tolerance: float
) -> None:
    corpus = _random_corpus(3, lengths)
    elastic_index.upsert(corpus)

    for query in (["词0"], ["词3", "词7", "词7"], ["词1", "词12", "词25", "词29", "未知"]):
        expected = _bm25s_scores(corpus, query)
        found = retrieve(elastic_index, " ".join(query), size=100)

        assert {c.doc.id for c in found.candidates} == set(expected)
        for candidate in found.candidates:
            assert candidate.lexical == pytest.approx(expected[candidate.doc.id], rel=tolerance)
            assert candidate.dense == 0.0


@es
def test_lexical_list_is_the_top_size_by_bm25(elastic_index: ElasticIndex) -> None:
    corpus = _random_corpus(5, range(1, 20))
    elastic_index.upsert(corpus)
    expected = _bm25s_scores(corpus, ["词2", "词9"])

    found = retrieve(elastic_index, "词2 词9", size=5)

    best = sorted(expected.values(), reverse=True)[:5]
    assert sorted((c.lexical for c in found.candidates), reverse=True) == pytest.approx(
        best, rel=1e-4
    )


@es
def test_union_keeps_signals_only_from_the_lists_a_document_made(
    elastic_index: ElasticIndex,
) -> None:
    elastic_index.upsert(
        [
            doc(1, "危机 危机 危机"),
            doc(2, "危机 危机 学生"),
            doc(3, "危机 学生 家长 老师", specialties=("自伤",)),
            doc(4, "家长", specialties=("家庭教育",)),
        ]
    )

    found = retrieve(elastic_index, "危机", weights={"自伤": 2.0, "家庭教育": 0.0}, size=2)

    signals = {c.doc.id: c.lexical for c in found.candidates}
    assert signals.keys() == {"expert:1", "expert:2", "expert:3"}
    assert signals["expert:1"] > signals["expert:2"] > 0
    assert signals["expert:3"] == 0.0  # matches 危机, but only made the specialty list
    assert found.total == 3 and found.facets == {}


@es
def test_specialty_list_ranks_by_the_sum_of_held_weights(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert(
        [
            doc(1, specialties=("自伤",)),
            doc(2, specialties=("自伤", "危机干预")),
            doc(3, specialties=("危机干预",)),
            doc(4, specialties=("家庭教育",)),
        ]
    )

    found = retrieve(
        elastic_index, weights={"自伤": 1.0, "危机干预": 0.5, "家庭教育": -1.0}, size=2
    )

    assert [c.doc.id for c in found.candidates] == ["expert:2", "expert:1"]


@es
@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("c++", True),
        ("a:b", True),
        ("(x)", True),
        ("*", True),
        ("' ; --", True),
        ("\\", True),
        ("😀", True),
        ("AND OR NOT ~ ^ [ ]", False),
        ("x" * 1000, False),
        ("心理 " * 500, True),
    ],
)
def test_query_tokens_with_query_syntax_are_matched_literally(
    elastic_index: ElasticIndex, query: str, hit: bool
) -> None:
    elastic_index.upsert([doc(1, "c++ a:b (x) * ' ; -- \\ 😀 心理")])

    found = retrieve(elastic_index, query)

    assert [c.doc.id for c in found.candidates] == (["expert:1"] if hit else [])


@es
def test_empty_query_returns_no_candidates(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(1, "心理")])

    assert retrieve(elastic_index, "   ").candidates == []


# -- vectors -----------------------------------------------------------------------------
@es
def test_dense_list_is_the_knn_top_size_among_filtered_docs_with_cosine_scores(
    make_elastic_index,
) -> None:
    index = make_elastic_index(vector_dims=4)
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(30, 4))
    corpus = [
        doc(n, "词", vector=vectors[n].tolist(), city="北京" if n % 2 else "上海")
        for n in range(30)
    ]
    corpus.append(
        doc(99, "词", vector=[0.0, 0.0, 0.0, 0.0], city="北京")
    )  # no cosine: kept, never dense
    index.upsert(corpus)
    query = rng.normal(size=4)

    found = index.retrieve(
        tokens=[],
        specialty_weights={},
        vector=query.tolist(),
        filters=Filters.of(city="北京"),
        size=5,
    )

    cosine = {
        d.id: float(
            np.dot(vectors[n], query) / (np.linalg.norm(vectors[n]) * np.linalg.norm(query))
        )
        for n, d in enumerate(corpus[:30])
        if n % 2
    }
    best = sorted(cosine, key=cosine.get, reverse=True)[:5]
    assert [c.doc.id for c in found.candidates] == best
    for candidate in found.candidates:
        assert candidate.dense == pytest.approx(cosine[candidate.doc.id], abs=1e-5)
        assert candidate.lexical == 0.0
    assert index.get(["expert:99"])["expert:99"].vector is None


@es
def test_vector_is_ignored_by_an_index_without_vectors(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(1, "心理")])

    found = retrieve(elastic_index, "心理", vector=[1.0, 0.0])

    assert [(c.doc.id, c.dense) for c in found.candidates] == [("expert:1", 0.0)]


# -- rebuild -----------------------------------------------------------------------------
@es
def test_rebuild_swaps_the_alias_atomically_and_deletes_the_old_version(
    make_elastic_index,
) -> None:
    elastic_index = make_elastic_index(bulk_chunk_size=20)  # several bulk requests before the swap
    old_docs = [doc(n, "旧 心理") for n in range(50)]
    elastic_index.upsert(old_docs)
    old_version = elastic_index.current_index()
    seen_during: list[tuple[int, int, int]] = []

    def new_docs():
        for n in range(120):
            if n == 60:  # halfway through loading, readers still see the complete old version
                found = retrieve(elastic_index, "旧 新", size=500)
                seen_during.append(
                    (elastic_index.count(), found.total, len(elastic_index.versions()))
                )
            yield doc(n, "新 心理")

    name = elastic_index.rebuild(new_docs(), total=120)

    assert seen_during == [(50, 50, 2)]
    assert name == elastic_index.current_index() != old_version
    assert elastic_index.versions() == [name]
    assert elastic_index.count() == 120
    assert retrieve(elastic_index, "旧").candidates == []
    assert elastic_index.browse(filters=Filters(), offset=0, size=1).total == 120


@es
def test_rebuild_serves_new_writes_after_the_swap(elastic_index: ElasticIndex) -> None:
    elastic_index.rebuild([doc(1, "心理")], total=1)
    elastic_index.rebuild([doc(2, "教育")], total=1)

    elastic_index.upsert([doc(3, "家庭")])

    assert set(elastic_index.get(["expert:1", "expert:2", "expert:3"])) == {"expert:2", "expert:3"}
    assert len(elastic_index.versions()) == 1


@es
def test_a_failed_rebuild_keeps_the_live_version_and_removes_the_partial_one(
    make_elastic_index,
) -> None:
    index = make_elastic_index(vector_dims=2)
    index.upsert([doc(1, "心理", vector=[1.0, 0.0])])
    live = index.current_index()

    with pytest.raises(IndexWriteError) as raised:
        index.rebuild([doc(2, "教育", vector=[1.0, 0.0]), doc(3, "坏", vector=[1.0, 2.0, 3.0])])

    assert "expert:3" in raised.value.message
    assert index.current_index() == live
    assert index.versions() == [live]
    assert index.count() == 1


@es
def test_rebuild_on_a_cluster_too_small_for_its_replicas_still_swaps(make_elastic_index) -> None:
    index = make_elastic_index(replicas=1, replica_wait=1)  # one node: replicas never assigned

    name = index.rebuild([doc(1, "心理")])

    assert index.current_index() == name
    assert index.count() == 1


@es
def test_compact_keeps_every_live_document_searchable(elastic_index: ElasticIndex) -> None:
    elastic_index.upsert([doc(n, "心理") for n in range(20)])
    elastic_index.upsert([doc(n, "危机") for n in range(10)])
    elastic_index.delete(["expert:19"])

    elastic_index.compact()

    assert elastic_index.count() == 19
    assert {c.doc.id for c in retrieve(elastic_index, "危机", size=50).candidates} == {
        f"expert:{n}" for n in range(10)
    }


@es
def test_rebuild_reports_progress(elastic_index: ElasticIndex) -> None:
    seen: list[int] = []

    elastic_index.rebuild((doc(n, "词") for n in range(3)), total=3, progress=seen.append)

    assert seen == [1, 2, 3]
