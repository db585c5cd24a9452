"""heart backup / heart restore: a round trip restores every table's rows exactly, and the
search index is rebuilt from the restored records."""

import json
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from marketplace.backup import backup_kind, snapshot
from marketplace.db import make_engine, session_scope
from marketplace.settings import Settings
from marketplace.vocabulary import Role
from search.service import SearchService
from tests.conftest import TEST_SECRET, expert_record, make_user
from tests.matching.db_support import file_request
from web.cli import app

runner = CliRunner()


def heart(env: dict[str, str], *args: str):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        database_url=env["HEART_DATABASE_URL"],
        data_dir=Path(env["HEART_DATA_DIR"]),
        embed_model="none",
        search_drain_seconds=0,
    )


def populate(env: dict[str, str], tmp_path: Path) -> None:
    heart(env, "init")
    experts = tmp_path / "experts.jsonl"
    experts.write_text(
        "\n".join(
            json.dumps(expert_record(id=f"B{i:05d}", name=name), ensure_ascii=False)
            for i, name in enumerate(["欧阳明", "司马静", "诸葛亮"], start=1)
        ),
        encoding="utf-8",
    )
    heart(env, "import", "experts", str(experts))
    engine = make_engine(settings_of(env))
    try:
        with session_scope(engine) as session:
            district = make_user(session, Role.district, username="beilin")
            file_request(session, user=district, district=None)
    finally:
        engine.dispose()
    heart(env, "index", "--rebuild")


def indexed_title(env: dict[str, str], expert_id: str) -> str | None:
    engine = make_engine(settings_of(env))
    try:
        docs = SearchService(settings=settings_of(env), engine=engine).backend.get(
            [f"expert:{expert_id}"]
        )
    finally:
        engine.dispose()
    doc = docs.get(f"expert:{expert_id}")
    return doc.title.split(" · ")[0] if doc else None


def test_restore_brings_back_every_row_of_every_table_and_rebuilds_search(env, tmp_path):
    populate(env, tmp_path)
    engine = make_engine(settings_of(env))
    before = snapshot(engine)
    assert before["expert"] and before["district_request"] and before["audit_entry"]
    backup = tmp_path / "heart.backup"
    heart(env, "backup", str(backup))
    assert backup_kind(backup) == engine.dialect.name

    # Damage after the backup: a renamed expert (indexed), a new user, a deleted request.
    with engine.begin() as connection:
        connection.execute(text("UPDATE expert SET name = '改名者' WHERE id = 'B00001'"))
        connection.execute(text("DELETE FROM district_request"))
    with session_scope(engine) as session:
        make_user(session, Role.staff, username="intruder")
    engine.dispose()
    heart(env, "index", "--rebuild")
    assert indexed_title(env, "B00001") == "改名者"
    assert snapshot(engine) != before

    result = heart(env, "restore", "--yes", str(backup))
    assert "搜索索引已重建" in result.output
    assert snapshot(engine) == before
    assert indexed_title(env, "B00001") == "欧阳明"
    engine.dispose()


def test_restoring_a_file_that_is_not_a_backup_of_this_database_is_refused(env, tmp_path):
    heart(env, "init")
    bogus = tmp_path / "bogus.backup"
    bogus.write_bytes(b"not a backup at all")
    result = runner.invoke(app, ["restore", "--yes", str(bogus)], env=env)
    assert result.exit_code == 1
    assert "不是 heart-hub 的备份文件" in result.output
