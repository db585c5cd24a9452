"""What a rebuild costs and keeps: the embedding cache forgets texts the directory no longer
has (and other encoders' vectors), an edit re-encodes only the edited texts, and `heart index`
rebuilds when the encoder the setting loads is not the one the index was made with (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.experts.importing import import_experts
from marketplace.experts.models import ExpertUpdate
from marketplace.experts.service import (
    export_records,
    need_model_records,
    public_views,
    update_expert,
)
from search.analysis import ChineseAnalyzer
from search.embed_cache import EmbeddingCache, TokenCache, text_hash
from search.encoder import CHINESE_MODEL, CHINESE_MODEL_INT8
from search.indexing import expert_search_text
from search.service import EMBED_CACHE, SearchRequest, SearchService
from tests.conftest import (
    BACKENDS,
    DEMO_EXPERTS,
    _pg_admin_url,
    create_pg_database,
    drop_pg_database,
    make_settings,
    seed_reference,
)
from tests.search.test_calibration import SPECIALTIES

LINES = DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()[:150]
RECORDS = [json.loads(line) for line in LINES]
NEW_MARK = "绘画疗愈工作坊"


class SpecialtyEncoder:
    """Places a text near the first specialty of the profile it comes from, else of the first
    specialty name it contains (a stand-in for a Chinese model that reads the profiles), and
    records what it was asked to encode."""

    dims = len(SPECIALTIES)

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []

    @staticmethod
    def _specialty(text: str) -> str | None:
        core = text.strip(" ，,、。；")
        for record in RECORDS:
            if core and (core in record["bio"] or record["bio"] in text):
                return record["specialties"][0]
        return next((s for s in SPECIALTIES if s in text), None)

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls += texts
        out = np.full((len(texts), self.dims), 1e-2, dtype=np.float32)
        for row, text in enumerate(texts):
            specialty = self._specialty(text)
            if specialty in SPECIALTIES:
                out[row, SPECIALTIES.index(specialty)] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(params=BACKENDS)
def directory(request, tmp_path, monkeypatch):
    """150 imported experts; `use(name)` makes the next SearchService load that encoder."""
    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path / 'search.db'}", None
    else:
        admin = _pg_admin_url()
        url = create_pg_database(admin)
    settings = make_settings(tmp_path / "data", url, embed_model="specialty-test")
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        import_experts(session=session, lines=LINES, user=system_principal("test"))
    encoders: dict[str, SpecialtyEncoder] = {}

    def use(name: str) -> SpecialtyEncoder:
        encoders[name] = SpecialtyEncoder(name)
        monkeypatch.setattr("search.service.load_encoder", lambda *_, **__: encoders[name])
        return encoders[name]

    yield settings, engine, use
    engine.dispose()
    if admin:
        drop_pg_database(admin, url)


def _edit_bio(engine, expert_id: str, bio: str) -> None:
    with Session(engine) as session:
        update_expert(
            session=session,
            expert_id=expert_id,
            data=ExpertUpdate(bio=bio),
            user=system_principal("test"),
        )
        session.commit()


def test_a_rebuild_after_an_edit_encodes_only_the_edit_and_the_cache_forgets_the_old_text(
    directory,
):
    settings, engine, use = directory
    encoder = use("specialty-test")
    service = SearchService(settings=settings, engine=engine)
    service.rebuild()
    assert service.weights.dense > 0  # the profiles carry vectors, so their texts are cached
    cache = EmbeddingCache(settings.search_dir / EMBED_CACHE)
    first = set(encoder.calls)
    old_profile = [t for t in first if _bio(engine, "D00007") in t]
    assert old_profile and cache.get_many(encoder.name, [text_hash(t) for t in old_profile])
    # another encoder's vectors, left from before a change of setting
    cache.put_many("an-older-model", [(text_hash("厌学"), np.ones(4, dtype=np.float32))])
    assert cache.count("an-older-model") == 1

    _edit_bio(engine, "D00007", f"多年从事{NEW_MARK}与家校沟通培训，服务中小学教师。")
    encoder.calls.clear()
    service.rebuild()

    assert any(NEW_MARK in t for t in encoder.calls), "the edited profile is encoded again"
    # besides it, only a few clauses the retrained need model now reads differently
    assert len(set(encoder.calls)) < 0.05 * len(first)
    assert not cache.get_many(encoder.name, [text_hash(t) for t in old_profile])
    assert cache.count("an-older-model") == 0

    # the cache now holds exactly what a rebuild from scratch of this directory asks for
    fresh = use("specialty-test")
    elsewhere = settings.model_copy(update={"data_dir": settings.data_dir.parent / "fresh"})
    SearchService(settings=elsewhere, engine=engine).rebuild()
    wanted = {text_hash(t) for t in fresh.calls}
    assert cache.get_many(encoder.name, list(wanted)).keys() == wanted
    assert cache.count() == len(wanted)


def _bio(engine, expert_id: str) -> str:
    from marketplace.experts.models import Expert  # noqa: PLC0415

    with Session(engine) as session:
        expert = session.get(Expert, expert_id)
        assert expert is not None
        return expert.bio


def test_index_rebuilds_when_the_setting_now_loads_another_encoder(directory):
    settings, engine, use = directory
    use("specialty-test")
    SearchService(settings=settings, engine=engine).rebuild()
    assert SearchService(settings=settings, engine=engine).ensure_whole()["action"] == "drain"

    use("specialty-test-int8")  # e.g. the operator switches to the int8 model
    service = SearchService(settings=settings, engine=engine)
    result = service.ensure_whole()
    assert result["action"] == "reencode"
    assert result["reason"] == "specialty-test -> specialty-test-int8"
    assert service.status()["encoder"]["index_vectors"] == "specialty-test-int8"
    assert service.ensure_whole()["action"] == "drain"


def test_auto_moves_a_directory_past_the_size_line_to_int8_and_running_services_follow(
    directory, monkeypatch
):
    settings, engine, _ = directory
    models = settings.data_dir.parent / "models"
    for name in (CHINESE_MODEL, CHINESE_MODEL_INT8):  # both installed, as fetch-models does
        (models / name).mkdir(parents=True)
        (models / name / "model.onnx").write_bytes(b"")
        (models / name / "tokenizer.json").write_text("{}")
    settings = settings.model_copy(update={"embed_model": "auto", "models_dir": models})
    made: dict[str, SpecialtyEncoder] = {}
    monkeypatch.setattr(
        "search.encoder._cached", lambda name, *_: made.setdefault(name, SpecialtyEncoder(name))
    )

    def line(int8_from: int, fp32_below: int) -> None:
        monkeypatch.setattr("search.encoder.AUTO_INT8_FROM", int8_from)
        monkeypatch.setattr("search.encoder.AUTO_FP32_BELOW", fp32_below)

    def index_model() -> str:
        return SearchService(settings=settings, engine=engine).status()["encoder"]["index_vectors"]

    line(1000, 500)  # 150 experts: a small directory
    running = SearchService(settings=settings, engine=engine)  # e.g. the web server's
    assert running.ensure_whole()["action"] == "rebuild"
    assert index_model() == CHINESE_MODEL and running.encoder.name == CHINESE_MODEL

    line(100, 50)  # the directory has grown past the line: the nightly check re-encodes
    result = SearchService(settings=settings, engine=engine).ensure_whole()
    assert result["action"] == "reencode"
    assert result["reason"] == f"{CHINESE_MODEL} -> {CHINESE_MODEL_INT8}"
    assert index_model() == CHINESE_MODEL_INT8
    # the running service encodes queries with the model that encoded the index
    made[CHINESE_MODEL_INT8].calls.clear()
    hits = running.search(SearchRequest(q="学生厌学，不愿意上学", page_size=5)).hits
    assert hits and made[CHINESE_MODEL_INT8].calls
    assert running.encoder.name == CHINESE_MODEL_INT8

    line(200, 120)  # a little under the line again: no re-encoding back and forth
    assert SearchService(settings=settings, engine=engine).ensure_whole()["action"] == "drain"
    line(400, 200)  # far under it: back to the fp32 model
    result = SearchService(settings=settings, engine=engine).ensure_whole()
    assert result["reason"] == f"{CHINESE_MODEL_INT8} -> {CHINESE_MODEL}"
    assert index_model() == CHINESE_MODEL


def _profile_texts(engine) -> set[str]:
    """The text each expert is found by (what a build tokenises per profile)."""
    from marketplace.experts.models import Expert  # noqa: PLC0415

    with Session(engine) as session:
        experts = list(session.exec(select(Expert)).all())
        return {expert_search_text(v) for v in public_views(session=session, experts=experts)}


def test_a_rebuild_tokenises_no_profile_it_met_before_and_the_token_cache_keeps_only_this_analyzer(
    directory, monkeypatch
):
    settings, engine, use = directory
    use("specialty-test")
    service = SearchService(settings=settings, engine=engine)
    service.rebuild()
    tokens = TokenCache(settings.search_dir / EMBED_CACHE)
    # tokens of an analyzer with other user words, left from before a vocabulary change
    tokens.remember("an-older-analyzer", [("厌学", ["厌", "学"])])

    tokenised: list[str] = []
    real_tokens = ChineseAnalyzer.tokens

    def counting(self, text):
        tokenised.append(text or "")
        return real_tokens(self, text)

    monkeypatch.setattr(ChineseAnalyzer, "tokens", counting)
    _edit_bio(engine, "D00007", f"多年从事{NEW_MARK}与家校沟通培训，服务中小学教师。")
    assert service.ensure_whole()["action"] == "drain"  # what `heart index` does after an edit
    assert any(NEW_MARK in t for t in tokenised), "the drain tokenised the edited profile"
    tokenised.clear()
    service.rebuild()

    profiles = _profile_texts(engine)
    assert not profiles & set(tokenised), "the cache answered every profile"
    fingerprint = service.analyzer.fingerprint
    assert tokens.count(fingerprint) == len(profiles)  # the old text of D00007 is gone
    assert tokens.count("an-older-analyzer") == 0
    # and it reads exactly as an index built where no cache had anything
    use("specialty-test")
    elsewhere = settings.model_copy(update={"data_dir": settings.data_dir.parent / "fresh"})
    fresh = SearchService(settings=elsewhere, engine=engine)
    fresh.rebuild()
    for q in ["学生厌学，不愿意上学", "沙盘", "危机干预", NEW_MARK]:
        request = SearchRequest(q=q, page_size=10)
        assert [h.id for h in service.search(request).hits] == [
            h.id for h in fresh.search(request).hits
        ]


def test_the_analyzer_fingerprint_names_what_its_tokens_depend_on_and_memory_changes_nothing():
    first = ChineseAnalyzer(["厌学", "沙盘游戏"])
    assert first.fingerprint == ChineseAnalyzer(["厌学", "沙盘游戏"]).fingerprint
    assert first.fingerprint != ChineseAnalyzer(["厌学", "沙盘游戏", "自伤"]).fingerprint
    assert first.fingerprint != ChineseAnalyzer(["厌学", "沙盘游戏"], subwords=False).fingerprint

    class Memory:
        def __init__(self) -> None:
            self.kept: dict[tuple[str, str], list[str]] = {}

        def recall(self, space, texts):
            return [self.kept.get((space, t)) for t in texts]

        def remember(self, space, pairs):
            self.kept.update(((space, t), tokens) for t, tokens in pairs)

    memory = Memory()
    remembering = ChineseAnalyzer(["厌学", "沙盘游戏"], memory=memory)
    texts = ["孩子厌学，用沙盘游戏辅导", "", "SCL-90 测评", "！？", "孩子厌学，用沙盘游戏辅导"]
    expected = [first.tokens(t) for t in texts]
    assert remembering.tokens_many(texts) == expected
    assert len(memory.kept) == 4  # each distinct text once, an empty token list included
    assert remembering.tokens_many(list(reversed(texts))) == list(reversed(expected))


def test_the_need_model_reads_the_same_values_as_the_export_in_one_light_pass(directory):
    _, engine, _ = directory
    _edit_bio(engine, "D00003", "")  # an empty bio reads as empty, as exported
    with Session(engine) as session:
        light = need_model_records(session=session)
        exported = list(export_records(session=session))
    fields = ("id", "name", "title", "organization", "bio", "specialties")
    assert light == [{k: r[k] for k in fields} for r in exported]
    assert len(light) == len(RECORDS)
