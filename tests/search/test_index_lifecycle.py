"""An index that is always whole: `heart index` after an import builds what is missing, a
drifted need model is retrained, and the status says what the index holds (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.clock import utcnow
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.experts.importing import import_experts
from marketplace.experts.models import Expert, ExpertSpecialty, ExpertUpdate
from marketplace.experts.service import update_expert
from marketplace.jobs.service import JobContext
from search.embedded import EmbeddedIndex
from search.jobs import index_drift_job
from search.service import (
    DRIFT_THRESHOLD,
    MODEL_RECORD,
    NEED_MODEL_VERSION,
    SearchRequest,
    SearchService,
)
from tests.conftest import (
    BACKENDS,
    DEMO_EXPERTS,
    _pg_admin_url,
    create_pg_database,
    drop_pg_database,
    make_settings,
    seed_reference,
)

NEED = "班里一个女生最近多次说不想活了，手腕上有划痕，班主任想请专家马上来学校评估风险"


@pytest.fixture(scope="module", params=BACKENDS)
def imported(request, tmp_path_factory):
    """600 experts imported, the index never built (what an operator has after an import)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lifecycle-db') / 'search.db'}"
        admin = None
    else:
        admin = _pg_admin_url()
        url = create_pg_database(admin)
    settings = make_settings(tmp_path_factory.mktemp("lifecycle-data"), url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        import_experts(
            session=session,
            lines=DEMO_EXPERTS.read_text(encoding="utf-8").splitlines(),
            user=system_principal("test"),
        )
    yield settings, engine
    engine.dispose()
    if admin:
        drop_pg_database(admin, url)


def test_index_after_a_fresh_import_builds_the_need_model_and_ranks_like_a_rebuild(
    imported, monkeypatch
):
    settings, engine = imported
    service = SearchService(settings=settings, engine=engine)
    before = service.status()
    assert before["need_model"] is None and before["pending"] >= 600
    written_again: list[str] = []
    real_upsert = EmbeddedIndex.upsert

    def upsert(self, docs):
        written_again.extend(d.id for d in docs)
        real_upsert(self, docs)

    monkeypatch.setattr(EmbeddedIndex, "upsert", upsert)

    result = service.ensure_whole()
    assert result["action"] == "rebuild"
    # the import's events are in what the build read: none is drained into it a second time
    assert written_again == []
    status = service.status()
    assert status["pending"] == 0
    assert status["documents"]["embedded"] >= 600
    model = status["need_model"]
    assert model["version"] == NEED_MODEL_VERSION
    assert model["experts"] == 600 and model["examples"] > 600
    assert model["heldout"]["needs"] > 0 and 0 < model["heldout"]["top1"] <= 1
    assert model["drift"] == 0.0 and model["age_hours"] >= 0
    after_index = [h.id for h in service.search(SearchRequest(q=NEED, page_size=10)).hits]

    service.rebuild()
    after_rebuild = [h.id for h in service.search(SearchRequest(q=NEED, page_size=10)).hits]
    assert after_index == after_rebuild

    # nothing new: a second run only drains
    assert service.ensure_whole()["action"] == "drain"


def test_edits_reach_the_index_and_a_drifted_need_model_is_retrained(imported):
    settings, engine = imported
    service = SearchService(settings=settings, engine=engine)
    if service.model_record() is None:
        service.ensure_whole()
    trained_at = service.model_record()["trained_at"]
    with Session(engine) as session:
        update_expert(
            session=session,
            expert_id="D00007",
            data=ExpertUpdate(bio="长期从事校园心理危机干预与沙盘游戏治疗，熟悉家校沟通。"),
            user=system_principal("test"),
        )
        session.commit()
    assert service.drift() == pytest.approx(1 / 600)

    # below the threshold the edit is drained into the index and the model is kept
    kept = service.ensure_whole()
    assert kept["action"] == "drain" and kept["drained"] >= 1
    assert service.model_record()["trained_at"] == trained_at
    hits = service.search(SearchRequest(q="沙盘游戏治疗 家校沟通", page_size=50)).hits
    assert "D00007" in [h.id for h in hits]

    # at the threshold (lowered here; DRIFT_THRESHOLD in production) the model is retrained
    assert DRIFT_THRESHOLD > 1 / 600
    retrained = service.ensure_whole(threshold=1 / 600)
    assert retrained["action"] == "retrain"
    assert service.drift() == 0.0


def test_the_nightly_check_builds_a_missing_need_model(imported):
    settings, engine = imported
    service = SearchService(settings=settings, engine=engine)
    (service.model_dir / "need_model.npz").unlink(missing_ok=True)
    (service.model_dir / "need_model.json").unlink(missing_ok=True)
    job = index_drift_job(lambda: service)
    summary = job(JobContext(engine=engine, settings=settings, now=utcnow()))
    assert "需求模型：缺失，已重建" in summary
    assert service.model_record()["version"] == NEED_MODEL_VERSION
    again = job(JobContext(engine=engine, settings=settings, now=utcnow()))
    assert "需求模型：无需重新训练" in again


def _edit(engine, expert_id: str, **fields) -> None:
    with Session(engine) as session:
        update_expert(
            session=session,
            expert_id=expert_id,
            data=ExpertUpdate(**fields),
            user=system_principal("test"),
        )
        session.commit()


def _import_copy(engine, new_id: str) -> None:
    """A new expert (a demo expert's profile under another id), imported as an operator does."""
    line = json.loads(DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()[0])
    line.update(id=new_id, name="新来的专家")
    with session_scope(engine) as session:
        import_experts(session=session, lines=[json.dumps(line)], user=system_principal("test"))


def test_drift_counts_what_the_need_model_reads_without_reading_the_directory(
    imported, monkeypatch
):
    settings, engine = imported
    service = SearchService(settings=settings, engine=engine)
    service.train_need_model()
    experts = service.model_record()["experts"]

    def whole_directory_read(**_):
        raise AssertionError("the whole directory was read to tell drift")

    monkeypatch.setattr("search.service.need_model_records", whole_directory_read)
    assert service.drift() == 0.0
    _edit(engine, "D00011", languages=["普通话", "英语"], monthly_capacity_hours=3)
    _edit(engine, "D00012", title="副主任医师（返聘）")
    _import_copy(engine, "N00001")
    # the need model reads specialties, title and bio: a capacity or language edit is no drift
    assert service.drift() == pytest.approx(2 / experts)
    assert service.status()["need_model"]["drift"] == pytest.approx(2 / experts)
    assert service.ensure_whole()["action"] == "drain"

    monkeypatch.undo()  # retraining reads the directory
    assert service.ensure_whole(threshold=2 / experts)["action"] == "retrain"
    assert service.model_record()["experts"] == experts + 1
    assert service.drift() == 0.0


def test_drift_reads_the_directory_when_the_outbox_cannot_tell(imported):
    settings, engine = imported
    service = SearchService(settings=settings, engine=engine)
    service.train_need_model()
    experts = service.model_record()["experts"]

    # an expert written straight into the table, with no outbox event, is still counted
    with Session(engine) as session:
        model = session.get(Expert, "D00020")
        fields = model.model_dump(exclude={"id", "name", "created_at", "updated_at"})
        session.add(Expert(id="N00002", name="直接写入", **fields))
        session.flush()
        for row in session.exec(
            select(ExpertSpecialty).where(ExpertSpecialty.expert_id == "D00020")
        ):
            session.add(ExpertSpecialty(**{**row.model_dump(), "expert_id": "N00002"}))
        session.commit()
    assert service.drift() == pytest.approx(1 / experts)

    # a model saved before its outbox position was recorded
    path = service.model_dir / MODEL_RECORD
    record = json.loads(path.read_text(encoding="utf-8"))
    record.pop("outbox_after")
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    _edit(engine, "D00021", bio="专注青少年网络成瘾与亲子冲突的家庭治疗。")
    assert service.drift() == pytest.approx(2 / experts)
