"""`heart index` keeps the index whole; `heart index --status` says what it holds."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from search.service import NEED_MODEL_VERSION
from tests.conftest import DEMO_EXPERTS, TEST_SECRET
from web.cli import app

runner = CliRunner()


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }


def heart(env: dict[str, str], *args: str):
    return runner.invoke(app, list(args), env=env)


def test_index_after_import_builds_the_need_model_and_status_reports_it(env):
    assert heart(env, "init").exit_code == 0
    assert heart(env, "import", "experts", str(DEMO_EXPERTS)).exit_code == 0
    before = heart(env, "index", "--status", "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["need_model"] is None
    assert "无（运行 heart index 构建）" in heart(env, "index", "--status").output

    built = heart(env, "index")
    assert built.exit_code == 0, built.output
    assert "尚无需求模型，已完整重建索引" in built.output
    status = json.loads(heart(env, "index", "--status", "--json").stdout)
    assert status["pending"] == 0
    assert status["documents"]["embedded"] >= 600
    assert status["need_model"]["version"] == NEED_MODEL_VERSION
    assert status["need_model"]["experts"] == 600
    text = heart(env, "index", "--status").output
    assert f"版本 {NEED_MODEL_VERSION}" in text and "待同步变更 / pending: 0" in text

    again = heart(env, "index")
    assert again.exit_code == 0 and "已同步 0 条变更" in again.output
    found = heart(env, "search", "学生用小刀划伤手臂，想请专家到校评估", "--json")
    assert json.loads(found.stdout)["hits"]
