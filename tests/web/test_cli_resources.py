"""heart import resources (file or directory, per-line report) and heart export resources."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import DEMO_EXPERTS
from tests.marketplace.resource_support import make_pdf
from tests.reliability.test_backup import heart
from web.cli import app

runner = CliRunner()
DEMO_LIBRARY = DEMO_EXPERTS.parent / "resources.jsonl"


def test_the_demo_library_imports_and_a_second_run_changes_nothing(env):
    heart(env, "init")
    heart(env, "import", "experts", str(DEMO_EXPERTS))
    first = heart(env, "import", "resources", str(DEMO_LIBRARY))
    assert "新增 12 · 未变 0 · 拒绝 0" in first.output
    again = heart(env, "import", "resources", str(DEMO_LIBRARY))
    assert "新增 0 · 未变 12 · 拒绝 0" in again.output


def test_bad_lines_are_reported_by_file_and_number_and_the_good_ones_imported(env, tmp_path):
    heart(env, "init")
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "outline.pdf").write_bytes(make_pdf())
    (folder / "setup.exe").write_bytes(b"MZ" + b"\x00" * 100)
    lines = [
        {"kind": "course", "title": "情绪调节课纲", "files": ["outline.pdf"], "publish": True},
        {"kind": "course", "title": "伪装的课件", "files": ["setup.exe"]},
        {"kind": "lecture", "title": "未知类型"},
        {"kind": "case", "title": "含学生信息的案例", "body": "初二（3）班的张小明情绪低落"},
    ]
    (folder / "a.jsonl").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{not json", "utf-8"
    )
    result = runner.invoke(app, ["import", "resources", str(folder)], env=env)
    assert result.exit_code == 1
    out = result.output
    assert "a.jsonl 第 2 行：" in out and "可执行程序" in out
    assert "a.jsonl 第 3 行：" in out and "a.jsonl 第 4 行：" in out and "学生个人信息" in out
    assert "a.jsonl 第 5 行：" in out
    assert "新增 1 · 未变 0 · 拒绝 4" in out
    exported = tmp_path / "out.jsonl"
    heart(env, "export", "resources", str(exported))
    rows = [json.loads(x) for x in exported.read_text("utf-8").splitlines()]
    assert [r["title"] for r in rows] == ["情绪调节课纲"] and rows[0]["publish"] is True
    # The export is in the import format: it imports into another database unchanged.
    assert Path(exported).stat().st_size > 0
    again = heart(env, "import", "resources", str(exported))
    assert "未变 1" in again.output
