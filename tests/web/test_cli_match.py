import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import web.cli.match_commands
from tests.conftest import TEST_SECRET, expert_record
from tests.matching.db_support import fake_relevance
from web.cli import app

runner = CliRunner()


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(
        web.cli.match_commands, "relevance_factory_for", lambda settings: fake_relevance
    )
    environment = {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }
    assert runner.invoke(app, ["init"], env=environment).exit_code == 0
    experts = tmp_path / "experts.jsonl"
    experts.write_text(
        "\n".join(
            json.dumps(expert_record(id=i, specialties=["心理危机干预"]), ensure_ascii=False)
            for i in ("C1", "C2")
        ),
        encoding="utf-8",
    )
    assert runner.invoke(app, ["import", "experts", str(experts)], env=environment).exit_code == 0
    return environment


def line(request_id: str, **overrides: object) -> str:
    data = {
        "id": request_id,
        "text": "学生自伤，需要心理危机干预",
        "district": {"province": "陕西省", "city": "西安市", "district": "碑林区"},
        "service_type": "crisis_support",
        "format": "onsite",
        "hours": 4,
        "experts_needed": 1,
        "exclude_experts": [],
        "window": {"start": "2027-03-01", "end": "2027-03-31"},
    }
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False)


def test_match_json_reports_every_request_assigned_or_with_a_reason(env, tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(
        "\n".join(
            [
                line("R1"),
                line("R2", exclude_experts=["C1", "ZZZ9"]),
                line(
                    "R3", district={"province": "陕西省", "city": "西安市", "district": "不存在区"}
                ),
                line("R4", hours=0),
                line(
                    "R5",
                    format="onsite",
                    district={"province": "陕西省", "city": "商洛市", "district": "商州区"},
                ),
                "{broken",
            ]
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["match", "--requests", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"assignments", "unassigned"}
    assigned = {a["request_id"]: a["expert_ids"] for a in data["assignments"]}
    assert assigned == {"R1": ["C1"], "R2": ["C2"]}
    reasons = {u["request_id"]: u["reason"] for u in data["unassigned"]}
    assert set(reasons) == {"R3", "R4", "R5", "第6行"}
    assert reasons["R3"] == "未知区县：陕西省 / 西安市 / 不存在区"
    assert "hours" in reasons["R4"]
    assert reasons["R5"].startswith("商洛市没有提供到校/线下危机支持服务的专家")
    assert "ZZZ9" in result.stderr


def test_match_writes_the_result_file_with_out(env, tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(line("R1"), encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["match", "--requests", str(path), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["assignments"][0]["request_id"] == "R1"


def test_match_of_a_missing_file_exits_2_with_a_message(env, tmp_path):
    result = runner.invoke(app, ["match", "--requests", str(tmp_path / "nope.jsonl")], env=env)
    assert result.exit_code == 2
    assert "找不到文件" in result.output


def test_match_without_requests_says_there_is_nothing_to_match(env):
    result = runner.invoke(app, ["match", "--json"], env=env)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"assignments": [], "unassigned": []}
    assert "没有待匹配的申请" in result.stderr


def test_match_without_requests_matches_submitted_requests_and_stores_the_proposal(
    env, fresh_database_url, tmp_path
):
    from sqlmodel import select

    from marketplace.db import make_engine, session_scope
    from matching.models import MatchRun
    from tests.conftest import make_settings
    from tests.matching.db_support import file_request

    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    try:
        with session_scope(engine) as session:
            file_request(session, external_id="DRX1")
            file_request(session, service_type="assessment")
        result = runner.invoke(app, ["match", "--json"], env=env)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [(a["request_id"], a["expert_ids"]) for a in data["assignments"]] == [
            ("DRX1", ["C1"])
        ]
        assert data["unassigned"] == [{"request_id": "2", "reason": "没有专家提供测评服务"}]
        with session_scope(engine) as session:
            assert len(session.exec(select(MatchRun)).all()) == 1
    finally:
        engine.dispose()
