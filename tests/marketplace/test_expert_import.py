import json

from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.audit.models import AuditEntry
from marketplace.experts.importing import import_experts
from marketplace.experts.service import count_experts, export_records
from marketplace.outbox.models import IndexOutbox
from tests.conftest import DEMO_EXPERTS, expert_record

SYSTEM = system_principal("test")


def lines_of(*records: object) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]


def test_importing_the_dev_pool_twice_leaves_600_experts_that_export_identically(session: Session):
    lines = DEMO_EXPERTS.read_text(encoding="utf-8").splitlines()
    first = import_experts(session=session, lines=lines, user=SYSTEM)
    second = import_experts(session=session, lines=lines, user=SYSTEM)
    assert (first.created, first.errors) == (600, [])
    assert (second.created, second.updated, second.unchanged) == (0, 0, 600)
    assert count_experts(session=session) == 600
    exported = [json.dumps(r, ensure_ascii=False) for r in export_records(session=session)]
    assert exported == lines


def test_bad_lines_are_reported_with_line_numbers_and_the_good_ones_kept(session: Session):
    lines = lines_of(
        expert_record(id="OK1"),
        "{not json",
        expert_record(id="BAD2", domain="astrology"),
        expert_record(id="BAD3", monthly_capacity_hours=-5),
        expert_record(id="OK1", name="重复"),
        expert_record(
            id="BAD5", region={"province": "陕西省", "city": "西安市", "district": "不存在区"}
        ),
        expert_record(id="BAD6", bio="长" * 5000),
        expert_record(id="BAD7", formats=["by-pigeon"]),
        "[1, 2]",
        expert_record(id="OK2"),
    )
    report = import_experts(session=session, lines=lines, user=SYSTEM)
    assert report.created == 2
    assert [e.line for e in report.errors] == [2, 3, 4, 5, 6, 7, 8, 9]
    reasons = {e.line: e.reason for e in report.errors}
    assert "JSON" in reasons[2]
    assert "domain" in reasons[3]
    assert "monthly_capacity_hours" in reasons[4] and "不能小于 0" in reasons[4]
    assert "第 1 行已出现" in reasons[5]
    assert "不存在区" in reasons[6]
    assert "4000" in reasons[7]
    ids = {r["id"] for r in export_records(session=session)}
    assert {"OK1", "OK2"} <= ids and not ids & {"BAD2", "BAD3", "BAD5", "BAD6", "BAD7"}
    ok1 = next(r for r in export_records(session=session) if r["id"] == "OK1")
    assert ok1["name"] == "测试专家"


def test_strict_import_writes_nothing_when_any_line_is_bad(session: Session):
    before = count_experts(session=session)
    report = import_experts(
        session=session, lines=lines_of(expert_record(id="S1"), "oops"), user=SYSTEM, strict=True
    )
    assert not report.written and len(report.errors) == 1
    assert count_experts(session=session) == before


def test_reimport_with_a_change_updates_and_is_audited_with_before_and_after(session: Session):
    import_experts(session=session, lines=lines_of(expert_record(id="A1")), user=SYSTEM)
    report = import_experts(
        session=session, lines=lines_of(expert_record(id="A1", title="主任医师")), user=SYSTEM
    )
    assert report.updated == 1
    entry = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity_id == "A1", AuditEntry.action == "expert.import.update"
        )
    ).one()
    assert entry.before["title"] == "心理咨询师" and entry.after["title"] == "主任医师"
    assert entry.actor == "test"


def test_every_imported_change_is_queued_for_the_search_index(session: Session):
    import_experts(session=session, lines=lines_of(expert_record(id="Q1")), user=SYSTEM)
    import_experts(session=session, lines=lines_of(expert_record(id="Q1")), user=SYSTEM)
    queued = session.exec(select(IndexOutbox).where(IndexOutbox.entity_id == "Q1")).all()
    assert len(queued) == 1  # the unchanged re-import queues nothing


def test_unknown_specialties_join_the_vocabulary_under_the_experts_domain(session: Session):
    from marketplace.specialties.service import list_specialties

    import_experts(
        session=session,
        lines=lines_of(expert_record(id="V1", specialties=["沙盘游戏治疗"])),
        user=SYSTEM,
    )
    added = {s.name: s.domain for s in list_specialties(session=session)}
    assert added["沙盘游戏治疗"] == "psychology"
