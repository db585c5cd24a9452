"""What the query paths ask the encoder for: a search encodes a message and the clauses its
need model reads at once, on two threads, and reads them exactly as one call after the other
would; a short term query is encoded once; matching reads profiles whole, encoding none of
them (SQLite and PostgreSQL: the directory fixture of test_index_cost)."""

from __future__ import annotations

import threading

import numpy as np

from matching.relevance import ExpertText, need_model_relevance
from search.service import NEED_TOP, SearchRequest, SearchService
from tests.search.test_index_cost import directory  # noqa: F401 - fixture
from tests.search.test_need_model_dense import RECORDS, KeywordEncoder

MESSAGE = "各位老师好，我是碑林区一所初中的心理老师。班里有学生最近总是失眠，上课注意力很差。谢谢！"


class ThreadRecordingEncoder(KeywordEncoder):
    """KeywordEncoder (it earns the need model a dense view) noting which thread asked for
    each call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        with self.lock:
            self.batches.append((threading.current_thread().name, list(texts)))
            return super().encode(texts, batch_size=batch_size)


def _service(directory, monkeypatch) -> tuple[SearchService, ThreadRecordingEncoder]:  # noqa: F811
    settings, engine, use = directory
    encoder = ThreadRecordingEncoder()
    use("specialty-test")
    monkeypatch.setattr("search.service.load_encoder", lambda *_, **__: encoder)
    # 150 profiles give this stand-in encoder a lift of ~0.23: keep its dense view anyway, the
    # view whose query path is under test here
    monkeypatch.setattr("search.needs.DENSE_MIN_LIFT", 0.0)
    SearchService(settings=settings, engine=engine).rebuild()
    service = SearchService(settings=settings, engine=engine)
    model = service.need_model
    assert model is not None and model.uses_dense and model.extracts
    encoder.batches.clear()
    return service, encoder


def test_a_message_and_its_clauses_are_encoded_at_once_and_read_as_one_after_the_other(
    directory,  # noqa: F811
    monkeypatch,
):
    service, encoder = _service(directory, monkeypatch)
    model = service.need_model
    assert model is not None
    clauses = model.clauses_to_encode(MESSAGE)
    assert len(clauses) >= 3  # greeting, introduction, need, thanks

    response = service.search(SearchRequest(q=MESSAGE))

    first_two = encoder.batches[:2]
    assert sorted(texts for _, texts in first_two) == sorted([[MESSAGE], clauses])
    threads = {thread for thread, _ in first_two}
    assert len(threads) == 2 and any(t.startswith("heart-query") for t in threads)
    # the same reading as the model encoding the message, then its clauses, itself
    alone = model.read(MESSAGE, top=NEED_TOP)
    assert [name for name, _ in response.needs] == list(alone.needs)
    assert [p for _, p in response.needs] == list(alone.needs.values())
    assert response.hits, "the need is about sleep and attention: experts hold it"


def test_a_term_query_or_a_single_clause_is_encoded_once(directory, monkeypatch):  # noqa: F811
    service, encoder = _service(directory, monkeypatch)
    model = service.need_model
    assert model is not None
    for query in ("厌学", "学生失眠注意力差"):
        encoder.batches.clear()
        assert model.clauses_to_encode(query) == []
        service.search(SearchRequest(q=query))
        assert [texts for _, texts in encoder.batches] == [[query]]


def test_matching_reads_profiles_whole_and_only_requests_as_needs(directory, monkeypatch):  # noqa: F811
    """BM25 over the experts reads their whole profiles, as the search index does; a request
    is read as the need in it. Reading every profile as a message cost a server's first
    recommendations page 30 s with the Chinese encoder (each bio's clauses were encoded)."""
    service, encoder = _service(directory, monkeypatch)
    model = service.need_model
    assert model is not None
    experts = [
        ExpertText(str(r["id"]), tuple(r["specialties"]), r["title"], r["bio"])
        for r in RECORDS[:60]
    ]
    encoder.batches.clear()
    relevance = need_model_relevance(experts, vocabulary=model.labels, model=model, encoder=encoder)
    assert encoder.batches == []  # no profile went through need extraction
    need = "学生考试前焦虑失眠"
    wrapped = f"各位老师好，我是碑林区一所中学的心理老师。{need}。麻烦各位了，谢谢！"
    ids = [e.id for e in experts]
    assert relevance.scores([need], ids).max() > 0
    relevance.scores([wrapped], ids)
    # the request, not a profile, is read clause by clause
    assert [texts for _, texts in encoder.batches] == [model.clauses_to_encode(wrapped)]
